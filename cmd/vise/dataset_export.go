package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
)

func (a *app) datasetExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export NAME[@VERSION] DIR",
		Short: "Write a dataset version out in YOLO layout: images/, labels/, data.yaml, train.txt, val.txt, manifest.json",
		Args:  exactArgs(2, "a dataset (NAME or NAME@VERSION) and a new folder"),
		RunE: func(c *cobra.Command, args []string) error {
			dv, err := a.resolveDataset(c, args[0])
			if err != nil {
				return err
			}
			if err := exportDataset(c.Context(), a.client(), dv, args[1]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "exported %s (%d images, %d boxes) to %s\n", dv.Ref(), dv.Images, dv.Boxes, args[1])
			return nil
		},
	}
}

func exportDataset(ctx context.Context, cl *client.Client, dv *vise.DatasetVersion, dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return vise.Errorf(vise.CodeConflict, "%s is not empty: export into a new folder", dir)
	}
	for _, sub := range []string{"images", "labels"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return vise.Errorf(vise.CodeInvalid, "cannot write the export: %v", err)
		}
	}
	raw, err := download(ctx, cl, dv.Digest, filepath.Join(dir, "manifest.json"), true)
	if err != nil {
		return err
	}
	var m vise.DatasetManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("manifest of %s: %w", dv.Ref(), err)
	}
	lists := map[string]*strings.Builder{vise.SplitTrain: {}, vise.SplitVal: {}}
	for _, it := range m.Items {
		if _, err := download(ctx, cl, it.SHA256, filepath.Join(dir, "images", it.Name), false); err != nil {
			return err
		}
		var sb strings.Builder
		for _, b := range it.Boxes {
			fmt.Fprintf(&sb, "%d %.6f %.6f %.6f %.6f\n", b.Class, b.CX, b.CY, b.W, b.H)
		}
		stem := strings.TrimSuffix(it.Name, filepath.Ext(it.Name))
		if err := os.WriteFile(filepath.Join(dir, "labels", stem+".txt"), []byte(sb.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(lists[it.Split], "images/"+it.Name)
	}
	yaml := "# " + dv.Ref() + " (digest " + dv.Digest + "), exported by vise\npath: .\ntrain: train.txt\nval: val.txt\nnames:\n"
	for i, c := range m.Classes {
		yaml += fmt.Sprintf("  %d: %s\n", i, strconv.Quote(c))
	}
	for name, content := range map[string]string{"data.yaml": yaml, "train.txt": lists[vise.SplitTrain].String(), "val.txt": lists[vise.SplitVal].String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// download fetches a blob into path, checking its sha256; with keep, it
// returns the content too (the manifest).
func download(ctx context.Context, cl *client.Client, sha, path string, keep bool) ([]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	var kept bytes.Buffer
	w := io.MultiWriter(f, h)
	if keep {
		w = io.MultiWriter(f, h, &kept)
	}
	if err := cl.DownloadArtifact(ctx, sha, w); err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return nil, vise.Errorf(vise.CodeInternal, "%s: downloaded content has sha256 %s, not %s", path, got, sha)
	}
	return kept.Bytes(), f.Close()
}
