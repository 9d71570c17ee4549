package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/onnx"
)

func (a *app) modelCmd() *cobra.Command {
	c := &cobra.Command{Use: "model", Short: "Register, inspect, approve and reject model versions"}
	c.AddCommand(a.modelRegisterCmd(), a.modelDecideCmd(vise.Approved), a.modelDecideCmd(vise.Rejected),
		a.modelListCmd(), a.modelShowCmd(), a.modelTargetsCmd(), a.modelOptimizeCmd())
	return c
}

func (a *app) modelRegisterCmd() *cobra.Command {
	var req vise.RegisterModelRequest
	var metrics, params []string
	c := &cobra.Command{
		Use:   "register NAME FILE.onnx",
		Short: "Upload an ONNX model as the next version of model NAME",
		Args:  exactArgs(2, "a model name and an ONNX file"),
		RunE: func(c *cobra.Command, args []string) error {
			name, path := args[0], args[1]
			if err := vise.ValidateName("model", name); err != nil {
				return err
			}
			var err error
			if req.Metrics, err = parseMetrics(metrics); err != nil {
				return err
			}
			if req.Lineage.Params, err = parsePairs("--param", params); err != nil {
				return err
			}
			if err := checkONNX(path); err != nil {
				return err
			}
			cl := a.client()
			art, err := cl.UploadFile(c.Context(), path, a.progress("uploading "+path))
			if err != nil {
				return err
			}
			req.SHA256 = art.SHA256
			mv, err := cl.RegisterModel(c.Context(), name, req)
			if err != nil {
				return err
			}
			return a.print(mv, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "registered %s version %d (%s)\n", mv.Group, mv.Version, mv.Approval.Status)
				if mv.Approval.Status == vise.Rejected {
					fmt.Fprintf(w, "  %s\n", mv.Approval.Reason)
				}
			})
		},
	}
	f := c.Flags()
	f.StringArrayVar(&metrics, "metric", nil, "a metric as KEY=NUMBER, e.g. map50=0.71 (repeatable)")
	f.StringArrayVar(&params, "param", nil, "a training parameter as KEY=VALUE (repeatable)")
	f.BoolVar(&req.Approve, "approve", false, "approve the version right away")
	f.StringVar(&req.Reason, "reason", "", "why (recorded with --approve)")
	f.StringVar(&req.Description, "description", "", "free text shown with the version")
	f.StringVar(&req.Lineage.Dataset, "dataset", "", "the dataset version trained on, NAME@VERSION")
	f.StringVar(&req.Lineage.DatasetDigest, "dataset-digest", "", "digest of the training dataset")
	f.StringVar(&req.Lineage.TrainingRun, "training-run", "", "id of the training run")
	f.StringVar(&req.Lineage.CodeVersion, "code-version", "", "version of the training code")
	return a.addOutput(c)
}

// checkONNX reads the file locally before uploading it, so a wrong file
// fails in a second instead of after a long upload. The server checks again.
func checkONNX(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return vise.Errorf(vise.CodeInvalid, "cannot read %s: %w", path, err)
	}
	defer f.Close()
	if _, err := onnx.Read(f); err != nil {
		return vise.Errorf(vise.CodeInvalid, "%s is not a usable ONNX model: %w", path, err)
	}
	return nil
}

// progress draws an upload bar on a terminal and stays quiet otherwise.
func (a *app) progress(label string) func(int64) client.Progress {
	if !a.isTerminal() {
		return nil
	}
	return func(size int64) client.Progress {
		return progressbar.NewOptions64(size, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription(label),
			progressbar.OptionShowBytes(true), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
	}
}

func parseMetrics(kvs []string) (map[string]float64, error) {
	pairs, err := parsePairs("--metric", kvs)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for k, v := range pairs {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, vise.Errorf(vise.CodeInvalid, "--metric %s=%s: the value must be a number", k, v)
		}
		out[k] = f
	}
	return out, vise.ValidateMetrics(out)
}

func parsePairs(flag string, kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, vise.Errorf(vise.CodeInvalid, "%s %q: write KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func (a *app) modelDecideCmd(status vise.ApprovalStatus) *cobra.Command {
	verb := "approve"
	if status == vise.Rejected {
		verb = "reject"
	}
	var reason string
	c := &cobra.Command{
		Use:   verb + " NAME VERSION",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a model version",
		Args:  exactArgs(2, "a model name and a version number"),
		RunE: func(c *cobra.Command, args []string) error {
			v, err := parseVersion(args[1])
			if err != nil {
				return err
			}
			mv, err := a.client().Decide(c.Context(), args[0], v, status, reason)
			if err != nil {
				return err
			}
			return a.print(mv, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s version %d is %s\n", mv.Group, mv.Version, mv.Approval.Status)
			})
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why; recorded with the decision")
	return a.addOutput(c)
}

func parseVersion(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	if err != nil || v <= 0 {
		return 0, vise.Errorf(vise.CodeInvalid, "version %q is not a positive whole number", s)
	}
	return v, nil
}

func (a *app) modelListCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "list",
		Short: "List model groups",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gs, err := a.client().Models(c.Context())
			if err != nil {
				return err
			}
			return a.print(gs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tVERSIONS\tLATEST\tAPPROVED\tCREATED")
				for _, g := range gs {
					fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", g.Name, g.VersionCount, g.LatestVersion, orDash(g.LatestApproved), ago(g.CreatedAt))
				}
			})
		},
	})
}

func (a *app) modelShowCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "show NAME [VERSION]",
		Short: "Show a model's versions, or one version in full",
		Args:  rangeArgs(1, 2, "a model name and optionally a version"),
		RunE: func(c *cobra.Command, args []string) error {
			cl := a.client()
			if len(args) == 2 {
				v, err := parseVersion(args[1])
				if err != nil {
					return err
				}
				mv, err := cl.ModelVersion(c.Context(), args[0], v)
				if err != nil {
					return err
				}
				return a.print(mv, func(w *tabwriter.Writer) { showVersion(w, mv) })
			}
			vs, err := cl.ModelVersions(c.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(vs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "VERSION\tSTATUS\tMETRICS\tSHA256\tSIZE\tCREATED")
				for _, mv := range vs {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", mv.Version, mv.Approval.Status, metricText(mv.Metrics), mv.Artifact.SHA256[:12], bytesText(mv.Artifact.Size), ago(mv.CreatedAt))
				}
			})
		},
	})
}

func showVersion(w *tabwriter.Writer, mv *vise.ModelVersion) {
	fmt.Fprintf(w, "Model:\t%s version %d\n", mv.Group, mv.Version)
	fmt.Fprintf(w, "Status:\t%s", mv.Approval.Status)
	if mv.Approval.By != "" {
		fmt.Fprintf(w, " by %s", mv.Approval.By)
	}
	if mv.Approval.At != nil {
		fmt.Fprintf(w, " at %s", mv.Approval.At.Format(time.RFC3339))
	}
	if mv.Approval.Reason != "" {
		fmt.Fprintf(w, " (%s)", mv.Approval.Reason)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Artifact:\tsha256 %s, %s\n", mv.Artifact.SHA256, bytesText(mv.Artifact.Size))
	fmt.Fprintf(w, "Producer:\t%s\n", mv.Producer)
	for _, t := range mv.Inputs {
		fmt.Fprintf(w, "Input:\t%s %s %s\n", t.Name, t.ElemType, shapeText(t))
	}
	for _, t := range mv.Outputs {
		fmt.Fprintf(w, "Output:\t%s %s %s\n", t.Name, t.ElemType, shapeText(t))
	}
	fmt.Fprintf(w, "Classes:\t%s\n", strings.Join(mv.ClassNames, ", "))
	fmt.Fprintf(w, "Metrics:\t%s\n", metricText(mv.Metrics))
	if l := mv.Lineage; l.Dataset != "" || l.DatasetDigest != "" || l.TrainingRun != "" || l.CodeVersion != "" {
		fmt.Fprintf(w, "Lineage:\tdataset %s, run %s, code %s\n", datasetText(l), orNone(l.TrainingRun), orNone(l.CodeVersion))
	}
	if l := mv.Lineage; l.Benchmark != "" {
		fmt.Fprintf(w, "Benchmark:\t%s\n", l.Benchmark)
	}
	if l := mv.Lineage; l.ParentVersion > 0 {
		fmt.Fprintf(w, "Derived:\t%s of version %d, calibration %s (%s)\n", orNone(l.Variant), l.ParentVersion, orNone(l.QuantizationMethod), orNone(l.CalibrationDigest))
	}
	fmt.Fprintf(w, "Created:\t%s by %s\n", mv.CreatedAt.Format(time.RFC3339), orNone(mv.CreatedBy))
}

// datasetText is the dataset version a model was trained on and its
// digest, or the digest alone (a folder).
func datasetText(l vise.Lineage) string {
	if l.Dataset == "" {
		return orNone(l.DatasetDigest)
	}
	return l.Dataset + " (digest " + orNone(l.DatasetDigest) + ")"
}

func shapeText(t vise.TensorSpec) string {
	parts := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		switch {
		case d >= 0:
			parts[i] = strconv.FormatInt(d, 10)
		case i < len(t.DimNames) && t.DimNames[i] != "":
			parts[i] = t.DimNames[i]
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func metricText(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%.4g", k, m[k])
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Format("2006-01-02")
}

func orDash(v int) string {
	if v == 0 {
		return "-"
	}
	return strconv.Itoa(v)
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
