package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
)

func (a *app) componentCmd() *cobra.Command {
	c := &cobra.Command{Use: "component", Short: "Create and inspect component versions (immutable recipes + artifacts)"}
	c.AddCommand(a.componentCreateCmd(), a.componentListCmd(), a.componentShowCmd())
	return c
}

func (a *app) componentCreateCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "create -f RECIPE.yaml",
		Short: "Upload a recipe's artifacts and create the component version",
		Long: `Reads a recipe (YAML or JSON). Artifacts that name a local "file" (relative
to the recipe) are uploaded first, unless the server has them already.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if file == "" {
				return fmt.Errorf("%w: give the recipe with -f RECIPE.yaml", errUsage)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return vise.Errorf(vise.CodeInvalid, "cannot read recipe: %w", err)
			}
			rc, err := vise.ParseRecipe(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			cl := a.client()
			if err := a.uploadArtifacts(c, cl, rc, filepath.Dir(file)); err != nil {
				return err
			}
			cv, created, err := cl.CreateComponent(c.Context(), rc)
			if err != nil {
				return err
			}
			return a.print(cv, func(w *tabwriter.Writer) {
				if created {
					fmt.Fprintf(w, "created %s@%s (recipe sha256 %s…)\n", rc.Name, rc.Version, cv.Digest[:12])
				} else {
					fmt.Fprintf(w, "%s@%s already exists with this content; nothing changed\n", rc.Name, rc.Version)
				}
			})
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "recipe file (YAML or JSON)")
	return a.addOutput(c)
}

func (a *app) uploadArtifacts(c *cobra.Command, cl *client.Client, rc *vise.Recipe, dir string) error {
	for i := range rc.Artifacts {
		art := &rc.Artifacts[i]
		if art.File == "" {
			continue
		}
		path := art.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		up, err := cl.UploadFile(c.Context(), path, a.progress("uploading "+art.Name))
		if err != nil {
			return err
		}
		if art.SHA256 != "" && art.SHA256 != up.SHA256 {
			return vise.Errorf(vise.CodeInvalid, "artifact %s: file %s has sha256 %s, but the recipe says %s", art.Name, path, up.SHA256, art.SHA256)
		}
		art.SHA256, art.Size, art.File = up.SHA256, up.Size, ""
	}
	return nil
}

func (a *app) componentListCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "list",
		Short: "List components",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cs, err := a.client().Components(c.Context())
			if err != nil {
				return err
			}
			return a.print(cs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tLATEST\tVERSIONS\tUPDATED")
				for _, s := range cs {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", s.Name, s.LatestVersion, s.VersionCount, ago(s.UpdatedAt))
				}
			})
		},
	})
}

func (a *app) componentShowCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "show NAME [VERSION]",
		Short: "Show a component's versions, or one version's recipe",
		Args:  rangeArgs(1, 2, "a component name and optionally a version"),
		RunE: func(c *cobra.Command, args []string) error {
			cl := a.client()
			if len(args) == 2 {
				cv, err := cl.ComponentVersion(c.Context(), args[0], args[1])
				if err != nil {
					return err
				}
				return a.print(cv, func(w *tabwriter.Writer) { showRecipe(w, cv) })
			}
			cvs, err := cl.ComponentVersions(c.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(cvs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "VERSION\tARTIFACTS\tDEPENDENCIES\tDIGEST\tCREATED")
				for _, cv := range cvs {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", cv.Recipe.Version, len(cv.Recipe.Artifacts), depText(&cv.Recipe), cv.Digest[:12], ago(cv.CreatedAt))
				}
			})
		},
	})
}

func showRecipe(w *tabwriter.Writer, cv *vise.ComponentVersion) {
	r := &cv.Recipe
	fmt.Fprintf(w, "Component:\t%s@%s\n", r.Name, r.Version)
	if r.Description != "" {
		fmt.Fprintf(w, "Description:\t%s\n", r.Description)
	}
	fmt.Fprintf(w, "Digest:\tsha256 %s\n", cv.Digest)
	for _, art := range r.Artifacts {
		fmt.Fprintf(w, "Artifact:\t%s sha256 %s… %s\n", art.Name, art.SHA256[:12], bytesText(art.Size))
	}
	fmt.Fprintf(w, "Dependencies:\t%s\n", depText(r))
	steps := []struct {
		name string
		step *vise.Step
	}{{"install", r.Lifecycle.Install}, {"run", r.Lifecycle.Run}, {"health", r.Lifecycle.Health}, {"shutdown", r.Lifecycle.Shutdown}}
	for _, s := range steps {
		if s.step != nil {
			fmt.Fprintf(w, "Lifecycle %s:\t%s\n", s.name, strings.TrimSpace(strings.SplitN(s.step.Script, "\n", 2)[0]))
		}
	}
	fmt.Fprintf(w, "Created:\t%s by %s\n", cv.CreatedAt.Format("2006-01-02 15:04:05"), orNone(cv.CreatedBy))
}

func depText(r *vise.Recipe) string {
	var parts []string
	for _, n := range r.DependencyNames() {
		d := r.Dependencies[n]
		parts = append(parts, n+" "+d.Version+map[bool]string{true: "", false: " (soft)"}[d.Hard()])
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}
