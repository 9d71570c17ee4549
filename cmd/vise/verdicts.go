package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) verdictsCmd() *cobra.Command {
	var device, result string
	var limit int
	c := &cobra.Command{
		Use:   "verdicts --device NAME",
		Short: "List the pass/reject verdicts a device sent to the line, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if device == "" {
				return fmt.Errorf("%w: --device is required (verdicts are listed per device)", errUsage)
			}
			if err := checkLimit(limit); err != nil {
				return err
			}
			vs, err := a.client().Verdicts(c.Context(), device, result, limit)
			if err != nil {
				return err
			}
			return a.print(vs, func(w *tabwriter.Writer) {
				part := func(id string) string {
					if id == "" {
						return "-"
					}
					return id
				}
				fmt.Fprintln(w, "RECEIVED\tCOMPONENT\tVERDICT\tPART\tRESULT\tMSG ID")
				for _, v := range vs {
					verdict := "pass"
					if v.Reject {
						verdict = "REJECT"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ReceivedAt.Local().Format("15:04:05.000"), v.Component, verdict, part(v.PartID), v.ResultID, v.MsgID)
				}
			})
		},
	}
	c.Flags().StringVar(&device, "device", "", "the device whose verdicts to list")
	c.Flags().StringVar(&result, "result", "", "only the verdicts decided from this result (its msg_id)")
	limitFlag(c, &limit)
	return a.addOutput(c)
}
