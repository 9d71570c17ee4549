package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/datasets"
)

func (a *app) datasetCmd() *cobra.Command {
	c := &cobra.Command{Use: "dataset", Short: "Dataset versions: immutable, content-addressed images and YOLO labels"}
	c.AddCommand(a.datasetCheckCmd(), a.datasetImportCmd(), a.datasetCreateCmd(), a.datasetListCmd(), a.datasetShowCmd(), a.datasetExportCmd())
	return c
}

func (a *app) datasetCheckCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "check DIR",
		Short: "Check a YOLO-layout folder (images/, labels/, data.yaml) as training would",
		Args:  exactArgs(1, "a dataset folder"),
		RunE: func(c *cobra.Command, args []string) error {
			sum, err := checkDataset(args[0])
			if err != nil {
				return err
			}
			return a.print(sum, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%d images, %d labelled, %d boxes, classes %q\n", sum.Images, sum.Labelled, sum.Boxes, sum.Classes)
			})
		},
	})
}

func (a *app) datasetCreateCmd() *cobra.Command {
	var req vise.CreateDatasetRequest
	var labelled bool
	var since time.Duration
	c := &cobra.Command{
		Use:   "create NAME --labelled [--base NAME@V] [--since 7d] [--device D] [--model NAME[@V]] [--split-by shot|device]",
		Short: "Make a new version: a base version plus the images labelled in the labelling queue",
		Args:  exactArgs(1, "a dataset name"),
		RunE: func(c *cobra.Command, args []string) error {
			if !labelled {
				return fmt.Errorf("%w: say --labelled: a new version adds the labelling queue's labelled images to --base", errUsage)
			}
			if since < 0 {
				return fmt.Errorf("%w: --since %s: give a positive duration such as 7d or 12h", errUsage, since)
			}
			if since > 0 {
				from := time.Now().Add(-since)
				req.Since = &from
			}
			dv, created, err := a.client().CreateDataset(c.Context(), args[0], req)
			if err != nil {
				return err
			}
			return a.printDataset(dv, created)
		},
	}
	f := c.Flags()
	f.BoolVar(&labelled, "labelled", false, "add the labelled images of the labelling queue (labelled, with or without boxes; not skipped)")
	f.StringVar(&req.Base, "base", "", "the version to start from, NAME@VERSION")
	f.DurationVar(&since, "since", 0, "only images received this far back, e.g. 168h")
	f.StringVar(&req.Device, "device", "", "only this device's images")
	f.StringVar(&req.Model, "model", "", "only images of this model, NAME or NAME@VERSION")
	f.StringVar(&req.SplitBy, "split-by", "shot", "keep together in one split: shot (the crops of one camera shot, by the device's file name) or device (all of a device's images)")
	return a.addOutput(c)
}

func (a *app) printDataset(dv *vise.DatasetVersion, created bool) error {
	return a.print(dv, func(w *tabwriter.Writer) {
		what := "created"
		if !created {
			what = "unchanged: the same content is"
		}
		fmt.Fprintf(w, "%s %s: %d images (%d train, %d val), %d boxes, %s, digest %s\n", what, dv.Ref(), dv.Images, dv.Train, dv.Val, dv.Boxes, size(dv.Bytes), dv.Digest)
	})
}

func size(b int64) string {
	if b >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
}

func (a *app) datasetListCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "list [NAME]",
		Short: "List dataset versions, newest first",
		Args:  rangeArgs(0, 1, "at most a dataset name"),
		RunE: func(c *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			dvs, err := a.client().Datasets(c.Context(), name)
			if err != nil {
				return err
			}
			return a.print(dvs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "DATASET\tIMAGES\tTRAIN\tVAL\tBOXES\tSIZE\tDIGEST\tSOURCE")
				for _, dv := range dvs {
					fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%s\t%.12s\t%s\n", dv.Ref(), dv.Images, dv.Train, dv.Val, dv.Boxes, size(dv.Bytes), dv.Digest, dv.Source)
				}
			})
		},
	})
}

func (a *app) datasetShowCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "show NAME[@VERSION]",
		Short: "Show a dataset version (the newest without @VERSION)",
		Args:  exactArgs(1, "a dataset, NAME or NAME@VERSION"),
		RunE: func(c *cobra.Command, args []string) error {
			dv, err := a.resolveDataset(c, args[0])
			if err != nil {
				return err
			}
			return a.print(dv, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "dataset\t%s\ndigest\t%s\nimages\t%d (%d train, %d val)\nboxes\t%d\nsize\t%s\nclasses\t%q\nsource\t%s\ncreated\t%s by %s\n",
					dv.Ref(), dv.Digest, dv.Images, dv.Train, dv.Val, dv.Boxes, size(dv.Bytes), dv.Classes, dv.Source, dv.CreatedAt.Local().Format(time.RFC3339), dv.CreatedBy)
			})
		},
	})
}

// resolveDataset reads NAME@V, or NAME for its newest version.
func (a *app) resolveDataset(c *cobra.Command, ref string) (*vise.DatasetVersion, error) {
	name, version, err := datasets.ParseRef(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, vise.ErrorMessage(err))
	}
	cl := a.client()
	if version > 0 {
		return cl.Dataset(c.Context(), name, version)
	}
	return newest(c, cl, name)
}

func newest(c *cobra.Command, cl *client.Client, name string) (*vise.DatasetVersion, error) {
	dvs, err := cl.Datasets(c.Context(), name)
	if err != nil {
		return nil, err
	}
	if len(dvs) == 0 {
		return nil, vise.Errorf(vise.CodeNotFound, "no dataset %s: 'vise dataset list' shows them", name)
	}
	return &dvs[0], nil
}
