package store

import (
	"context"

	"github.com/vise-edge/vise"
)

// Events returns events after the given id (exclusive; "" for the start), in
// order, at most limit (default 1000).
func (s *Store) Events(ctx context.Context, after string, limit int) ([]vise.Event, error) {
	limit = listLimit(limit, 1000)
	return list(ctx, s, "list events", func(row scanner) (ev vise.Event, err error) {
		var data string
		var at int64
		err = row.Scan(&ev.ID, &ev.Type, &ev.Subject, &data, &at)
		ev.Data, ev.CreatedAt = []byte(data), fromMicros(at)
		return ev, err
	}, `SELECT id, type, subject, data, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

// Subscribe returns a channel of events as they commit in this process, for
// live views. It is best effort: a subscriber that falls behind by more than
// the buffer misses events and should re-read with Events. Call cancel when
// done.
func (s *Store) Subscribe(buffer int) (events <-chan vise.Event, cancel func()) {
	ch := make(chan vise.Event, buffer)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
	}
}

func (s *Store) publish(ev vise.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (s *Store) classifyRows(op string, err error) error {
	if err == nil {
		return nil
	}
	return s.classify(op, err)
}
