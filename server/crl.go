package server

import (
	"bytes"
	"context"
	"fmt"
	"github.com/vise-edge/vise/atomicfile"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/pki"
	"github.com/vise-edge/vise/store"
)

const (
	// crlRewrite is how often the CRL is written even when nothing changed,
	// so the file on disk never comes near its NextUpdate.
	crlRewrite = 24 * time.Hour
	// reloadTimeout bounds the reload command.
	reloadTimeout = 30 * time.Second
	// reloadHint is what to do without --mqtt-reload-command.
	reloadHint = "reload Mosquitto now so it reads the new CRL (it reads crlfile only at start and on SIGHUP): systemctl reload mosquitto, or kill -HUP its pid"
)

// crlFile keeps an external broker's certificate revocation list
// (--mqtt-crl) in step with the revoked device certificates in the
// database, and has the broker reload it (--mqtt-reload-command).
type crlFile struct {
	path   string
	reload []string // argv; none: the operator reloads
	check  time.Duration
	ca     *pki.CA
	store  *store.Store
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex // one write (and reload) at a time
	serials string     // what the file lists, to notice a change
	written time.Time
}

func newCRLFile(cfg Config, ca *pki.CA, st *store.Store, log *slog.Logger) *crlFile {
	return &crlFile{path: cfg.MQTTCRL, reload: strings.Fields(cfg.MQTTReloadCommand), check: cfg.MQTTCRLCheck, ca: ca, store: st,
		log: log, now: time.Now}
}

// startCRL writes the CRL before the server connects to the broker (which
// refuses to start without its crlfile) and keeps it current.
func (s *Server) startCRL(ctx context.Context) error {
	if s.crl == nil {
		return nil
	}
	up, err := s.crl.update(ctx, true)
	if err != nil {
		return err
	}
	s.log.Info("CRL for the external broker written", "crl", up.File, "revoked", up.Revoked, "reload_command", up.ReloadCommand, "reloaded", up.Reloaded)
	s.wg.Go(func() { s.crl.run(ctx) })
	return nil
}

// onRevoke cuts a revoked device off: the embedded broker disconnects it;
// an external one is given a new CRL.
func (s *Server) onRevoke(ctx context.Context, device string) *vise.CRLUpdate {
	if s.Broker != nil {
		s.Broker.Disconnect(device)
	}
	if s.crl == nil {
		return nil
	}
	// The revoke is committed: finish even if its client has gone.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	up, err := s.crl.update(ctx, true)
	if err != nil {
		s.log.Error("device revoked, but the external broker's CRL was not written; retrying", "device", device, "err", err, "in", s.cfg.MQTTCRLCheck)
	}
	return up
}

// update writes the CRL and reloads the broker, if force or if the revoked
// certificates changed or the file is due its daily rewrite; otherwise it
// returns nil. The update says what happened, failures included.
func (c *crlFile) update(ctx context.Context, force bool) (*vise.CRLUpdate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	up := &vise.CRLUpdate{File: c.path}
	revoked, err := c.store.RevokedCertificates(ctx)
	if err != nil {
		up.Error = vise.ErrorMessage(err)
		return up, fmt.Errorf("update the CRL: %w", err)
	}
	key := serialsKey(revoked)
	if !force && key == c.serials && c.now().Sub(c.written) < crlRewrite {
		return nil, nil
	}
	up.Revoked = len(revoked)
	if err := c.write(revoked); err != nil {
		up.Error = err.Error()
		return up, err
	}
	changed := key != c.serials
	c.serials, c.written = key, c.now()
	c.reloadBroker(ctx, up)
	if !force {
		c.logUpdate(up, changed)
	}
	return up, nil
}

func serialsKey(revoked []store.RevokedCertificate) string {
	var b strings.Builder
	for _, r := range revoked {
		b.WriteString(r.Serial)
		b.WriteByte(',')
	}
	return b.String()
}

// write replaces the file atomically (mode 0644: the broker runs as
// another user) with a CRL listing revoked.
func (c *crlFile) write(revoked []store.RevokedCertificate) error {
	entries := make([]pki.Revoked, len(revoked))
	for i, r := range revoked {
		entries[i] = pki.Revoked{Serial: r.Serial, RevokedAt: r.RevokedAt}
	}
	previous, _ := os.ReadFile(c.path) // none yet: the number starts from the clock
	b, err := c.ca.CRL(entries, c.ca.NextCRLNumber(previous), pki.CRLValidity)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(c.path, b, 0o644); err != nil {
		return vise.Errorf(vise.CodeUnavailable, "--mqtt-crl %s: cannot write the CRL: %w", c.path, err)
	}
	return nil
}

// reloadBroker runs the reload command, or says in up that the operator
// must reload. A failure is logged with the command's output; the CRL is
// written either way.
func (c *crlFile) reloadBroker(ctx context.Context, up *vise.CRLUpdate) {
	if len(c.reload) == 0 {
		up.Next = reloadHint
		return
	}
	up.ReloadCommand = strings.Join(c.reload, " ")
	out, err := runReload(ctx, c.reload)
	if err != nil {
		up.ReloadOutput = out
		up.Next = fmt.Sprintf("--mqtt-reload-command %q failed (%v); %s", up.ReloadCommand, err, reloadHint)
		c.log.Error("the broker reload command failed: the broker still holds its previous CRL", "command", up.ReloadCommand,
			"err", err, "output", out, "crl", c.path)
		return
	}
	up.Reloaded = true
}

// runReload runs argv (no shell) in its own process group, SIGTERM to the
// group on timeout and SIGKILL 5 s later, and returns its output.
func runReload(ctx context.Context, argv []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if len(text) > 4096 {
		text = text[:4096] + "…"
	}
	return text, err
}

// run rewrites the CRL when the revoked certificates change (a revoke
// through another replica) and daily, until ctx ends.
func (c *crlFile) run(ctx context.Context) {
	t := time.NewTicker(c.check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := c.update(ctx, false); err != nil && ctx.Err() == nil {
			c.log.Error("cannot update the external broker's CRL; retrying", "err", err, "in", c.check)
		}
	}
}

// logUpdate records a rewrite nobody asked for: news to the operator only
// if the list changed (a revoke through another replica) and nothing
// reloaded the broker.
func (c *crlFile) logUpdate(up *vise.CRLUpdate, changed bool) {
	if changed && up.ReloadCommand == "" {
		c.log.Warn("CRL for the external broker updated; "+reloadHint, "crl", up.File, "revoked", up.Revoked)
		return
	}
	c.log.Info("CRL for the external broker rewritten", "crl", up.File, "revoked", up.Revoked, "reloaded", up.Reloaded)
}
