package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/vise-edge/vise"
)

// Token is an API credential. Only the sha256 of the secret is stored.
type Token struct {
	ID   string
	Name string // who acts with it, recorded as created_by / approved by
	Role string
}

// CreateToken stores a token's hash.
func (s *Store) CreateToken(ctx context.Context, name, role, hash string) (*Token, error) {
	t := &Token{ID: s.newID(), Name: name, Role: role}
	err := s.write(ctx, "create token", func(tx *tx) error {
		_, err := tx.exec(`INSERT INTO api_tokens (id, name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			t.ID, name, role, hash, micros(s.clock()))
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TokenByHash finds a token, or returns an unauthorized error.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*Token, error) {
	var t Token
	err := s.queryRow(ctx, `SELECT id, name, role FROM api_tokens WHERE hash = ?`, hash).Scan(&t.ID, &t.Name, &t.Role)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vise.Errorf(vise.CodeUnauthorized, "unknown API token")
	}
	if err != nil {
		return nil, s.classify("check token", err)
	}
	return &t, nil
}

// CountTokens tells whether any token exists yet.
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM api_tokens`).Scan(&n); err != nil {
		return 0, s.classify("count tokens", err)
	}
	return n, nil
}
