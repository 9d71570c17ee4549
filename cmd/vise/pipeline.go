package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
)

func (a *app) pipelineCmd() *cobra.Command {
	c := &cobra.Command{Use: "pipeline", Short: "Run pipelines (edge-deploy is built in) and follow their executions"}
	c.AddCommand(a.pipelineRunCmd(), a.pipelineListCmd(), a.pipelineShowCmd(), a.pipelineCancelCmd(),
		a.pipelineApplyCmd(), a.pipelineDefinitionsCmd(), a.pipelineDescribeCmd())
	return c
}

func (a *app) pipelineRunCmd() *cobra.Command {
	var params []string
	var target, model string
	var wait bool
	c := &cobra.Command{
		Use:   "run NAME",
		Short: "Start an execution of a pipeline's newest version",
		Example: `  vise pipeline run edge-deploy --model metal-tags --target group:line-1 --wait
  vise pipeline run edge-deploy --model metal-tags --target device:cam-7 --param inference=`,
		Args: exactArgs(1, "a pipeline name"),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := parsePairs("--param", params)
			if err != nil {
				return err
			}
			for k, v := range map[string]string{"target": target, "model": model} {
				if v != "" {
					p[k] = v
				}
			}
			cl := a.client()
			x, err := cl.RunPipeline(c.Context(), args[0], p)
			if err != nil {
				return err
			}
			if !wait {
				return a.print(x, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "started execution %s of %s version %d; follow it with 'vise pipeline show %s'\n", x.ID, x.Pipeline, x.Version, x.ID)
				})
			}
			if a.output != "json" {
				fmt.Fprintf(a.stdout, "execution %s of %s version %d\n", x.ID, x.Pipeline, x.Version)
			}
			return a.follow(c.Context(), cl, x.ID)
		},
	}
	c.Flags().StringArrayVar(&params, "param", nil, "parameter KEY=VALUE (repeatable)")
	c.Flags().StringVar(&target, "target", "", "the target parameter: group:NAME or device:NAME")
	c.Flags().StringVar(&model, "model", "", "the model parameter: a model group")
	c.Flags().BoolVar(&wait, "wait", false, "follow the execution until it ends; exit non-zero unless it SUCCEEDED")
	return a.addOutput(c)
}

// follow prints each step as it changes until the execution ends.
func (a *app) follow(ctx context.Context, cl *client.Client, id string) error {
	seen := map[string]string{}
	for {
		x, err := cl.Execution(ctx, id)
		if err != nil {
			return err
		}
		for _, s := range x.Steps {
			line := fmt.Sprintf("%s attempts %d %s", s.Status, s.Attempts, s.Error)
			if seen[s.Step] != line && a.output != "json" {
				fmt.Fprintf(a.stdout, "%s  %-14s %-9s %s\n", time.Now().Format("15:04:05"), s.Step, s.Status, shorten(s.Error))
			}
			seen[s.Step] = line
		}
		if x.Finished() {
			if a.output == "json" {
				a.print(x, nil)
			} else {
				fmt.Fprintf(a.stdout, "execution %s %s %s\n", x.ID, x.Status, x.Error)
			}
			if x.Status != vise.ExecutionSucceeded {
				return fmt.Errorf("execution %s ended %s: %s", x.ID, x.Status, x.Error)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func shorten(s string) string {
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return strings.ReplaceAll(s, "\n", " ")
}

func (a *app) pipelineListCmd() *cobra.Command {
	var pipeline string
	var limit int
	c := &cobra.Command{
		Use:   "list",
		Short: "List executions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			xs, err := a.client().Executions(c.Context(), pipeline, limit)
			if err != nil {
				return err
			}
			return a.print(xs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tPIPELINE\tSTATUS\tSTEP\tCAUSE\tSTARTED\tERROR")
				for _, x := range xs {
					fmt.Fprintf(w, "%s\t%s v%d\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Pipeline, x.Version, x.Status, x.Step, x.Cause, ago(x.CreatedAt), shorten(x.Error))
				}
			})
		},
	}
	c.Flags().StringVar(&pipeline, "pipeline", "", "only executions of this pipeline")
	limitFlag(c, &limit)
	return a.addOutput(c)
}

func (a *app) pipelineShowCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "show ID",
		Short: "Show an execution with each step's input, output, error, attempts and timing",
		Args:  exactArgs(1, "an execution id"),
		RunE: func(c *cobra.Command, args []string) error {
			x, err := a.client().Execution(c.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(x, func(w *tabwriter.Writer) { showExecution(w, x) })
		},
	})
}

func showExecution(w *tabwriter.Writer, x *vise.Execution) {
	fmt.Fprintf(w, "Execution:\t%s\nPipeline:\t%s version %d\nStatus:\t%s %s\nCause:\t%s\nParams:\t%s\nStarted:\t%s\n",
		x.ID, x.Pipeline, x.Version, x.Status, x.Error, orNone(x.Cause), labelText(x.Params), x.CreatedAt.Format(time.RFC3339))
	if x.FinishedAt != nil {
		fmt.Fprintf(w, "Finished:\t%s (%s)\n", x.FinishedAt.Format(time.RFC3339), x.FinishedAt.Sub(x.CreatedAt).Round(time.Millisecond))
	}
	fmt.Fprintln(w, "\n#\tSTEP\tACTION\tSTATUS\tATTEMPTS\tTOOK\tOUTPUT / ERROR")
	for _, s := range x.Steps {
		took := "-"
		if s.FinishedAt != nil {
			took = s.FinishedAt.Sub(s.StartedAt).Round(time.Millisecond).String()
		}
		var detail string
		if len(s.Output) > 0 {
			var b bytes.Buffer
			json.Compact(&b, s.Output)
			detail = b.String()
		}
		if s.Error != "" {
			detail = s.Error
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Seq, s.Step, s.Action, s.Status, s.Attempts, took, shorten(detail))
	}
}

func (a *app) pipelineCancelCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a running execution (the step in progress finishes its attempt; nothing after it runs)",
		Args:  exactArgs(1, "an execution id"),
		RunE: func(c *cobra.Command, args []string) error {
			x, err := a.client().CancelExecution(c.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(x, func(w *tabwriter.Writer) { fmt.Fprintf(w, "execution %s %s\n", x.ID, x.Status) })
		},
	})
}

func (a *app) pipelineApplyCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "apply FILE.yaml",
		Short: "Add a pipeline definition, or a new version of one",
		Args:  exactArgs(1, "a YAML file"),
		RunE: func(c *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return vise.Errorf(vise.CodeInvalid, "read pipeline definition: %w", err)
			}
			d, created, err := a.client().ApplyPipeline(c.Context(), b)
			if err != nil {
				return err
			}
			return a.print(d, func(w *tabwriter.Writer) {
				if created {
					fmt.Fprintf(w, "pipeline %s version %d stored\n", d.Name, d.Version)
				} else {
					fmt.Fprintf(w, "pipeline %s unchanged (version %d)\n", d.Name, d.Version)
				}
			})
		},
	})
}

func (a *app) pipelineDefinitionsCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "definitions",
		Short: "List pipelines with their newest versions",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ds, err := a.client().Pipelines(c.Context())
			if err != nil {
				return err
			}
			return a.print(ds, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tVERSION\tBY\tCREATED\tDESCRIPTION")
				for _, d := range ds {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", d.Name, d.Version, orNone(d.CreatedBy), ago(d.CreatedAt), d.Description)
				}
			})
		},
	})
}

func (a *app) pipelineDescribeCmd() *cobra.Command {
	var version int
	c := &cobra.Command{
		Use:   "describe NAME",
		Short: "Print a pipeline definition's YAML (a starting point for your own)",
		Args:  exactArgs(1, "a pipeline name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := a.client().Pipeline(c.Context(), args[0], version)
			if err != nil {
				return err
			}
			return a.print(d, func(w *tabwriter.Writer) { fmt.Fprint(a.stdout, d.Body) })
		},
	}
	c.Flags().IntVar(&version, "version", 0, "this version (default the newest)")
	return a.addOutput(c)
}

// modelTargetsCmd shows or sets where a model's approved versions go.
func (a *app) modelTargetsCmd() *cobra.Command {
	var set []string
	var pipeline string
	var clear bool
	c := &cobra.Command{
		Use:   "targets NAME",
		Short: "Show or set where approved versions of a model are deployed (by the edge-deploy pipeline)",
		Example: `  vise model targets metal-tags --set group:line-1 --set device:cam-7
  vise model targets metal-tags --clear`,
		Args: exactArgs(1, "a model name"),
		RunE: func(c *cobra.Command, args []string) error {
			cl := a.client()
			var ts []vise.ModelTarget
			var err error
			if len(set) > 0 || clear {
				want := []vise.ModelTarget{}
				for _, t := range set {
					want = append(want, vise.ModelTarget{Target: t, Pipeline: pipeline})
				}
				ts, err = cl.SetModelTargets(c.Context(), args[0], want)
			} else {
				ts, err = cl.ModelTargets(c.Context(), args[0])
			}
			if err != nil {
				return err
			}
			return a.print(ts, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "TARGET\tPIPELINE")
				for _, t := range ts {
					fmt.Fprintf(w, "%s\t%s\n", t.Target, t.Pipeline)
				}
			})
		},
	}
	c.Flags().StringArrayVar(&set, "set", nil, "deploy approved versions to group:NAME or device:NAME (repeatable; replaces the list)")
	c.Flags().StringVar(&pipeline, "pipeline", "edge-deploy", "the pipeline that deploys them")
	c.Flags().BoolVar(&clear, "clear", false, "deploy approved versions nowhere automatically")
	return a.addOutput(c)
}
