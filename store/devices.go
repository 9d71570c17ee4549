package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/vise-edge/vise"
)

// CreateDevice adds a device record, joined to existing groups.
func (s *Store) CreateDevice(ctx context.Context, req vise.CreateDeviceRequest) (*vise.Device, error) {
	d := &vise.Device{Name: req.Name, Labels: req.Labels, Groups: req.Groups, CreatedAt: s.clock()}
	err := s.write(ctx, "create device", func(t *tx) error {
		var n int
		if err := t.queryRow(`SELECT COUNT(*) FROM devices WHERE name = ?`, d.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return vise.Errorf(vise.CodeConflict, "device %s already exists", d.Name)
		}
		labels, err := jsonText(d.Labels)
		if err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO devices (name, labels, created_at) VALUES (?, ?, ?)`, d.Name, labels, micros(d.CreatedAt)); err != nil {
			return err
		}
		for _, g := range d.Groups {
			if err := t.addMember(g, d.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (t *tx) addMember(group, device string) error {
	var n int
	if err := t.queryRow(`SELECT COUNT(*) FROM device_groups WHERE name = ?`, group).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return vise.Errorf(vise.CodeNotFound, "group %s not found; create it with 'vise group create %s'", group, group)
	}
	_, err := t.exec(`INSERT INTO group_members (group_name, device) VALUES (?, ?) ON CONFLICT DO NOTHING`, group, device)
	return err
}

// deviceQuery lists a device's groups with STRING_AGG ... ORDER BY, which
// both PostgreSQL and SQLite (3.44+) accept.
const deviceQuery = `SELECT d.name, d.labels, d.generation, d.last_seen_at, d.created_at, d.enrolled_at, d.revoked_at, d.status,
	COALESCE((SELECT STRING_AGG(m.group_name, ',' ORDER BY m.group_name) FROM group_members m WHERE m.device = d.name), '')
	FROM devices d`

func scanDevice(row scanner) (*vise.Device, error) {
	var d vise.Device
	var labels, groups string
	var seen, enrolled, revoked sql.NullInt64
	var created int64
	var status string
	if err := row.Scan(&d.Name, &labels, &d.Generation, &seen, &created, &enrolled, &revoked, &status, &groups); err != nil {
		return nil, err
	}
	d.LastSeenAt, d.CreatedAt = fromNullMicros(seen), fromMicros(created)
	d.EnrolledAt, d.RevokedAt = fromNullMicros(enrolled), fromNullMicros(revoked)
	if status != "{}" && status != "" {
		d.Status = json.RawMessage(status)
	}
	if groups != "" {
		d.Groups = strings.Split(groups, ",")
	}
	return &d, scanJSON(labels, &d.Labels)
}

// GetDevice returns a device or a not_found error.
func (s *Store) GetDevice(ctx context.Context, name string) (*vise.Device, error) {
	d, err := scanDevice(s.queryRow(ctx, deviceQuery+` WHERE d.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vise.Errorf(vise.CodeNotFound, "device %s not found; 'vise device list' shows the known devices", name)
	}
	if err != nil {
		return nil, s.classify("get device", err)
	}
	return d, nil
}

// ListDevices returns all devices by name.
func (s *Store) ListDevices(ctx context.Context) ([]*vise.Device, error) {
	return list(ctx, s, "list devices", scanDevice, deviceQuery+` ORDER BY d.name`)
}

// CreateGroup adds a device group.
func (s *Store) CreateGroup(ctx context.Context, req vise.CreateGroupRequest) (*vise.Group, error) {
	g := &vise.Group{Name: req.Name, Description: req.Description, Devices: []string{}, CreatedAt: s.clock()}
	err := s.write(ctx, "create group", func(t *tx) error {
		res, err := t.exec(`INSERT INTO device_groups (name, description, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			g.Name, g.Description, micros(g.CreatedAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return vise.Errorf(vise.CodeConflict, "group %s already exists", g.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// AddGroupMember puts an existing device into an existing group.
func (s *Store) AddGroupMember(ctx context.Context, group, device string) error {
	return s.write(ctx, "add group member", func(t *tx) error {
		var n int
		if err := t.queryRow(`SELECT COUNT(*) FROM devices WHERE name = ?`, device).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return vise.Errorf(vise.CodeNotFound, "device %s not found", device)
		}
		return t.addMember(group, device)
	})
}

// GetGroup returns a group with its members.
func (s *Store) GetGroup(ctx context.Context, name string) (*vise.Group, error) {
	g := vise.Group{Name: name}
	var created int64
	err := s.queryRow(ctx, `SELECT description, created_at FROM device_groups WHERE name = ?`, name).Scan(&g.Description, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vise.Errorf(vise.CodeNotFound, "group %s not found; 'vise group list' shows the groups", name)
	}
	if err != nil {
		return nil, s.classify("get group", err)
	}
	g.CreatedAt = fromMicros(created)
	g.Devices, err = s.members(ctx, name)
	return &g, err
}

func (s *Store) members(ctx context.Context, group string) ([]string, error) {
	return list(ctx, s, "list group members", scanString, `SELECT device FROM group_members WHERE group_name = ? ORDER BY device`, group)
}

// ListGroups returns all groups with their members.
func (s *Store) ListGroups(ctx context.Context) ([]*vise.Group, error) {
	names, err := list(ctx, s, "list groups", scanString, `SELECT name FROM device_groups ORDER BY name`)
	if err != nil {
		return nil, err
	}
	out := []*vise.Group{}
	for _, n := range names {
		g, err := s.GetGroup(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}
