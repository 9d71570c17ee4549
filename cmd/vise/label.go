package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
)

func (a *app) labelCmd() *cobra.Command {
	c := &cobra.Command{Use: "label", Short: "The labelling queue: images devices sent back, with the model's boxes as pre-labels"}
	c.AddCommand(a.labelListCmd(), a.labelShowCmd(), a.labelSaveCmd())
	return c
}

func (a *app) labelListCmd() *cobra.Command {
	var f vise.LabelFilter
	var reason, state string
	c := &cobra.Command{
		Use:   "list [--device D] [--model NAME[@V]] [--reason defect|uncertain|sample] [--state new|labelled|skipped]",
		Short: "List images to label: uncertain first, then defects, then samples, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := checkLimit(f.Limit); err != nil {
				return err
			}
			f.Reason, f.State = vise.LabelReason(reason), vise.LabelState(state)
			if err := checkLabelFilter(f); err != nil {
				return err
			}
			ims, err := a.client().Labels(c.Context(), f)
			if err != nil {
				return err
			}
			return a.print(ims, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "RECEIVED\tDEVICE\tMSG ID\tREASON\tSTATE\tMODEL\tPRE-LABELS\tBOXES\tVERSION")
				for _, im := range ims {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", im.ReceivedAt.Local().Format("2006-01-02 15:04:05"), im.Device, im.MsgID,
						im.Reason, im.State, im.Model.Name+"@"+im.Model.Version, len(im.Prelabels), len(im.Boxes), im.Version)
				}
			})
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.Device, "device", "", "only this device's images")
	fl.StringVar(&f.Model, "model", "", "only this model's, NAME or NAME@VERSION")
	fl.StringVar(&reason, "reason", "", "only defect, uncertain or sample images")
	fl.StringVar(&state, "state", "", "only new, labelled or skipped images")
	limitFlag(c, &f.Limit)
	return a.addOutput(c)
}

func checkLabelFilter(f vise.LabelFilter) error {
	switch f.Reason {
	case "", vise.ReasonDefect, vise.ReasonUncertain, vise.ReasonSample:
	default:
		return fmt.Errorf("%w: --reason %q: use defect, uncertain or sample", errUsage, f.Reason)
	}
	switch f.State {
	case "", vise.LabelNew, vise.LabelLabelled, vise.LabelSkipped:
	default:
		return fmt.Errorf("%w: --state %q: use new, labelled or skipped", errUsage, f.State)
	}
	return nil
}

func (a *app) labelShowCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "show DEVICE MSG_ID",
		Short: "Show one image's provenance, pre-labels, label and the classes it may use",
		Args:  exactArgs(2, "a device and a result's message id"),
		RunE: func(c *cobra.Command, args []string) error {
			im, err := a.client().Label(c.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return a.print(im, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "image\t%s of %s (%dx%d, sha256 %s)\n", im.MsgID, im.Device, im.Width, im.Height, im.ImageSHA256)
				fmt.Fprintf(w, "model\t%s@%s (sha256 %s)\n", im.Model.Name, im.Model.Version, im.Model.SHA256)
				fmt.Fprintf(w, "component\t%s %s\n", im.Component, orNone(im.ComponentVersion))
				if im.CapturedAt != nil {
					fmt.Fprintf(w, "captured\t%s\n", im.CapturedAt.Format(time.RFC3339))
				}
				if im.PartID != "" {
					fmt.Fprintf(w, "part\t%s\n", im.PartID)
				}
				fmt.Fprintf(w, "reason\t%s\nstate\t%s (version %d%s)\nclasses\t%v\n", im.Reason, im.State, im.Version, by(im), im.Classes)
				for _, b := range im.Prelabels {
					fmt.Fprintf(w, "pre-label\t%s %.2f at %g,%g %gx%g\n", b.Class, b.Confidence, b.X, b.Y, b.Width, b.Height)
				}
				for _, b := range im.Boxes {
					fmt.Fprintf(w, "box\t%s at %g,%g %gx%g\n", b.Class, b.X, b.Y, b.Width, b.Height)
				}
			})
		},
	})
}

func by(im *vise.LabelImage) string {
	if im.LabelledBy == "" {
		return ""
	}
	return ", by " + im.LabelledBy
}

func (a *app) labelSaveCmd() *cobra.Command {
	var boxesFile string
	var accept, noDefect, skip bool
	var version int
	c := &cobra.Command{
		Use:   "save DEVICE MSG_ID (--boxes FILE | --accept | --no-defect | --skip) [--version N]",
		Short: "Save a label: boxes from a JSON file (- for stdin), the pre-labels as they are, no defect, or skip",
		Args:  exactArgs(2, "a device and a result's message id"),
		RunE: func(c *cobra.Command, args []string) error {
			chosen := 0
			for _, b := range []bool{boxesFile != "", accept, noDefect, skip} {
				if b {
					chosen++
				}
			}
			if chosen != 1 {
				return fmt.Errorf("%w: give exactly one of --boxes FILE, --accept, --no-defect or --skip", errUsage)
			}
			req := vise.SaveLabelRequest{State: vise.LabelLabelled, Boxes: []vise.LabelBox{}}
			if boxesFile != "" {
				if err := readBoxes(c.InOrStdin(), boxesFile, &req.Boxes); err != nil {
					return err
				}
			}
			if skip {
				req.State = vise.LabelSkipped
			}
			cl := a.client()
			im, err := cl.Label(c.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			req.Version = im.Version
			if c.Flags().Changed("version") {
				req.Version = version
			}
			if accept {
				req.Boxes = im.Prelabels
				for i := range req.Boxes {
					req.Boxes[i].Confidence = 0
				}
			}
			saved, err := cl.SaveLabel(c.Context(), args[0], args[1], req)
			if err != nil {
				return err
			}
			return a.print(saved, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "saved %s of %s: %s, %d boxes (version %d)\n", saved.MsgID, saved.Device, saved.State, len(saved.Boxes), saved.Version)
			})
		},
	}
	fl := c.Flags()
	fl.StringVar(&boxesFile, "boxes", "", `JSON array of boxes, [{"class": "scratch", "x": 10, "y": 20, "width": 30, "height": 40}] (image pixels)`)
	fl.BoolVar(&accept, "accept", false, "save the model's boxes as they are")
	fl.BoolVar(&noDefect, "no-defect", false, "save the image as free of defects (no boxes)")
	fl.BoolVar(&skip, "skip", false, "skip the image")
	fl.IntVar(&version, "version", 0, "the label version you started from (default: the current one); a save over a newer one is refused (exit 4)")
	return a.addOutput(c)
}

func readBoxes(stdin io.Reader, name string, boxes *[]vise.LabelBox) error {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("%w: --boxes: %w", errUsage, err)
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(boxes); err != nil {
		return fmt.Errorf("%w: --boxes %s: not a JSON array of boxes (%w)", errUsage, strconv.Quote(name), err)
	}
	return nil
}
