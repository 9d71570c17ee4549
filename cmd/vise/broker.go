package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise/pki"
)

func (a *app) brokerCmd() *cobra.Command {
	c := &cobra.Command{Use: "broker", Short: "Help run an external MQTT broker (Mosquitto) for Vise"}
	var hosts []string
	var out string
	cert := &cobra.Command{
		Use:   "cert --host NAME --out DIR",
		Short: "Issue the external broker's server certificate from the Vise CA (writes cert.pem, key.pem, ca.pem, crl.pem)",
		Long: `Issues a TLS server certificate for an external MQTT broker, signed by the
device CA in the server's data directory, so devices (which trust only that
CA) and the server accept the broker. Writes DIR/cert.pem (certificate and
CA chain), DIR/key.pem (mode 0600), DIR/ca.pem (the CA that signs device
and server client certificates: the broker's cafile) and, unless it exists,
DIR/crl.pem (an empty revocation list from that CA: the broker's crlfile,
which Mosquitto needs to start; 'vise server --mqtt-crl DIR/crl.pem' keeps
it current). Run it on the server's machine, with the server's --data; it
creates the CA there if the server has not run yet. See the README's
"External MQTT broker".`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if len(hosts) == 0 || out == "" {
				return fmt.Errorf("%w: pass --host (the name or address devices use for the broker; repeatable) and --out DIR", errUsage)
			}
			// The broker comes first: make the CA if the server has not yet.
			caDir := filepath.Join(a.dataDir, "pki")
			if _, err := os.Stat(filepath.Join(caDir, "ca.key")); err != nil {
				fmt.Fprintf(a.stderr, "no Vise CA in %s yet: creating it (the server uses it from its first start)\n", caDir)
			}
			ca, err := pki.Open(caDir, nil)
			if err != nil {
				return err
			}
			leaf, err := ca.ServerCert(hosts)
			if err != nil {
				return err
			}
			chain, key, err := pki.EncodePEM(leaf)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			for _, f := range []struct {
				name string
				data []byte
				mode os.FileMode
			}{{"cert.pem", chain, 0o644}, {"key.pem", key, 0o600}, {"ca.pem", ca.CertPEM(), 0o644}} {
				if err := os.WriteFile(filepath.Join(out, f.name), f.data, f.mode); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.stdout, "wrote %s, %s, %s (valid until %s)\n", filepath.Join(out, "cert.pem"), filepath.Join(out, "key.pem"),
				filepath.Join(out, "ca.pem"), leaf.Leaf.NotAfter.Format(time.DateOnly))
			return a.initialCRL(ca, filepath.Join(out, "crl.pem"))
		},
	}
	cert.Flags().StringSliceVar(&hosts, "host", nil, "name or IP address devices use to reach the broker (repeatable)")
	cert.Flags().StringVar(&out, "out", "", "directory to write cert.pem, key.pem and ca.pem into")
	c.AddCommand(cert)
	return c
}

// initialCRL writes an empty CRL to path unless a file is there already
// (the server's, which lists the revoked devices: keep it).
func (a *app) initialCRL(ca *pki.CA, path string) error {
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintf(a.stdout, "kept %s (the server keeps it current with --mqtt-crl)\n", path)
		return nil
	}
	crl, err := ca.CRL(nil, ca.NextCRLNumber(nil), pki.CRLValidity)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, crl, 0o644); err != nil {
		return fmt.Errorf("write the initial CRL: %w", err)
	}
	fmt.Fprintf(a.stdout, "wrote %s (empty; start the server with --mqtt-crl %s to keep it current)\n", path, path)
	return nil
}
