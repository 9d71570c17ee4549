package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/datasets"
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
	_, err := datasets.WriteYOLO(ctx, dv, dir, cl.DownloadArtifact)
	return err
}
