package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/vise-edge/vise"
)

// Users are people who log in to the dashboard. The store keeps the password
// hash it is given and hands it back only to UserCredentials; events name
// who acted, never the hash.

const userColumns = `name, role, created_by, created_at, password_changed_at`

func scanUser(row scanner) (*vise.User, error) {
	var u vise.User
	var created, changed int64
	if err := row.Scan(&u.Name, &u.Role, &u.CreatedBy, &created, &changed); err != nil {
		return nil, err
	}
	u.CreatedAt, u.PasswordChangedAt = fromMicros(created), fromMicros(changed)
	return &u, nil
}

func userNotFound(name string) error {
	return vise.Errorf(vise.CodeNotFound, "user %s not found; 'vise user list' shows the users", name)
}

// CreateUser stores a new user with its password hash.
func (s *Store) CreateUser(ctx context.Context, name, role, hash, by string) (*vise.User, error) {
	now := s.clock()
	u := &vise.User{Name: name, Role: role, CreatedBy: by, CreatedAt: now, PasswordChangedAt: now}
	err := s.write(ctx, "create user", func(t *tx) error {
		res, err := t.exec(`INSERT INTO users (name, password_hash, role, created_by, created_at, password_changed_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`, name, hash, role, by, micros(now), micros(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return vise.Errorf(vise.CodeConflict, "user %s already exists; change its password with 'vise user passwd %s'", name, name)
		}
		return t.emit(vise.EventUserCreated, name, map[string]string{"role": role, "by": by})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// GetUser returns a user (without its hash) or a not_found error.
func (s *Store) GetUser(ctx context.Context, name string) (*vise.User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, userNotFound(name)
	}
	if err != nil {
		return nil, s.classify("get user", err)
	}
	return u, nil
}

// UserCredentials returns a user and its password hash, for checking a login.
func (s *Store) UserCredentials(ctx context.Context, name string) (*vise.User, string, error) {
	var u vise.User
	var hash string
	var created, changed int64
	err := s.queryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE name = ?`, name).
		Scan(&u.Name, &u.Role, &u.CreatedBy, &created, &changed, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", userNotFound(name)
	}
	if err != nil {
		return nil, "", s.classify("get user credentials", err)
	}
	u.CreatedAt, u.PasswordChangedAt = fromMicros(created), fromMicros(changed)
	return &u, hash, nil
}

// ListUsers returns all users by name.
func (s *Store) ListUsers(ctx context.Context) ([]*vise.User, error) {
	return list(ctx, s, "list users", scanUser, `SELECT `+userColumns+` FROM users ORDER BY name`)
}

// DeleteUser removes a user.
func (s *Store) DeleteUser(ctx context.Context, name, by string) error {
	return s.write(ctx, "delete user", func(t *tx) error {
		res, err := t.exec(`DELETE FROM users WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return userNotFound(name)
		}
		return t.emit(vise.EventUserRemoved, name, map[string]string{"by": by})
	})
}

// SetUserPassword replaces a user's password hash; sessions started before
// now end (see vise.User.PasswordChangedAt).
func (s *Store) SetUserPassword(ctx context.Context, name, hash, by string) error {
	return s.write(ctx, "set user password", func(t *tx) error {
		res, err := t.exec(`UPDATE users SET password_hash = ?, password_changed_at = ? WHERE name = ?`, hash, micros(s.clock()), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return userNotFound(name)
		}
		return t.emit(vise.EventUserPasswordChanged, name, map[string]string{"by": by})
	})
}
