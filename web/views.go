package web

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/vise-edge/vise/deviceapi"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/vise-edge/vise"
)

// onlineWithin is how recently a device must have reported to count as
// online: agents report at least every reconcile interval (2 minutes).
const onlineWithin = 5 * time.Minute

type deviceRow struct {
	Name, Groups, State, Components, Seen string
	Health                                []string // components not running well, and camera counters
	Degraded                              bool
	Generation                            int64
	Queue                                 int
	Online, Revoked                       bool
}

func (h *Handler) fleet(ctx context.Context, v *view) error {
	ds, err := h.store.ListDevices(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		var st deviceapi.Status
		json.Unmarshal(d.Status, &st) // stored as the device sent it: show what is there
		row := deviceRow{Name: d.Name, Groups: strings.Join(d.Groups, ", "), State: string(st.State), Generation: d.Generation,
			Revoked: d.RevokedAt != nil, Seen: "never"}
		if st.Telemetry != nil {
			row.Queue = st.Telemetry.QueueDepth
		}
		if d.LastSeenAt != nil {
			row.Seen = d.LastSeenAt.Local().Format("15:04:05")
			row.Online = !row.Revoked && h.now().Sub(*d.LastSeenAt) < onlineWithin
		}
		var comps []string
		for name, state := range st.Components {
			comps = append(comps, name+" "+state)
		}
		sort.Strings(comps)
		row.Components = strings.Join(comps, ", ")
		row.Health, row.Degraded = healthLines(st.Health)
		v.Devices = append(v.Devices, row)
	}
	return nil
}

// healthLines shows each component's own report: degraded with the
// reason, and the frames it inspected and dropped.
func healthLines(health map[string]vise.ComponentHealth) (lines []string, degraded bool) {
	for name, c := range health {
		line := fmt.Sprintf("%s: %d images (%.1f/s)", name, c.Images, c.FPS)
		if c.FramesDropped > 0 {
			line += fmt.Sprintf(", %d frames dropped", c.FramesDropped)
		}
		if c.Rejects > 0 {
			line += fmt.Sprintf(", %d rejects", c.Rejects)
		}
		if c.SendBack != nil {
			line += "; sent back: " + c.SendBack.String()
		}
		if c.State == vise.ComponentDegraded {
			degraded = true
			line += " — degraded: " + c.Reason
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return lines, degraded
}

func (h *Handler) deployments(ctx context.Context, v *view) error {
	ds, err := h.store.ListDeployments(ctx, nil, 20)
	if err != nil {
		return err
	}
	for _, d := range ds {
		full, err := h.store.GetDeployment(ctx, d.ID)
		if err != nil {
			return err
		}
		v.Deployments = append(v.Deployments, full)
	}
	return nil
}

// pipelines shows the newest executions with their step history.
func (h *Handler) pipelines(ctx context.Context, v *view) error {
	xs, err := h.store.ListExecutions(ctx, "", 20)
	if err != nil {
		return err
	}
	for _, x := range xs {
		full, err := h.store.GetExecution(ctx, x.ID)
		if err != nil {
			return err
		}
		v.Executions = append(v.Executions, full)
	}
	return nil
}

type modelView struct {
	Group    *vise.ModelGroup
	Versions []*vise.ModelVersion
	Targets  []vise.ModelTarget
}

func (h *Handler) models(ctx context.Context, v *view) error {
	gs, err := h.store.ListModelGroups(ctx)
	if err != nil {
		return err
	}
	for _, g := range gs {
		vs, err := h.store.ListModelVersions(ctx, g.Name)
		if err != nil {
			return err
		}
		ts, err := h.store.ModelTargets(ctx, g.Name)
		if err != nil {
			return err
		}
		v.Models = append(v.Models, modelView{Group: g, Versions: vs, Targets: ts})
	}
	return nil
}

type resultCard struct {
	MsgID, Device, Name, Error string
	Width, Height              int
	Image                      bool
	Latency                    float64
	Boxes                      []struct{ X, Y, W, H float64 }
}

func (h *Handler) inspection(ctx context.Context, v *view) error {
	rs, err := h.store.ListResults(ctx, "", time.Time{}, 12)
	if err != nil {
		return err
	}
	if h.qual != nil {
		ds, err := h.store.ListDevices(ctx)
		if err != nil {
			return err
		}
		for _, d := range ds[:min(len(ds), qualityDevices)] {
			v.Quality = append(v.Quality, d.Name)
		}
	}
	for _, r := range rs {
		var p deviceapi.Result
		json.Unmarshal(r.Payload, &p)
		c := resultCard{MsgID: r.MsgID, Device: r.Device, Name: p.Image.Name, Width: p.Image.Width, Height: p.Image.Height,
			Image: p.Image.Stored != "", Latency: p.LatencyMS.Infer, Error: p.Error}
		for _, d := range p.Detections {
			c.Boxes = append(c.Boxes, struct{ X, Y, W, H float64 }{d.Box.X, d.Box.Y, d.Box.Width, d.Box.Height})
		}
		v.Results = append(v.Results, c)
	}
	return nil
}

// series is the defect rate per device per minute over the last hour, for
// the uPlot chart: {"t": [unix...], "devices": [...], "rates": [[...], ...]}.
func (h *Handler) series(w http.ResponseWriter, r *http.Request) {
	now := h.now().Truncate(time.Minute)
	rs, err := h.store.ListResults(r.Context(), "", now.Add(-time.Hour), 1000)
	if err != nil {
		http.Error(w, vise.ErrorMessage(err), vise.ErrorCode(err).HTTPStatus())
		return
	}
	type bucket struct{ n, defects int }
	counts := map[string]map[int64]*bucket{}
	for _, res := range rs {
		m := res.ReceivedAt.Truncate(time.Minute).Unix()
		if counts[res.Device] == nil {
			counts[res.Device] = map[int64]*bucket{}
		}
		b := counts[res.Device][m]
		if b == nil {
			b = &bucket{}
			counts[res.Device][m] = b
		}
		b.n++
		if res.Defects > 0 {
			b.defects++
		}
	}
	out := struct {
		T       []int64      `json:"t"`
		Devices []string     `json:"devices"`
		Rates   [][]*float64 `json:"rates"`
	}{T: []int64{}, Devices: []string{}, Rates: [][]*float64{}}
	for t := now.Add(-time.Hour); !t.After(now); t = t.Add(time.Minute) {
		out.T = append(out.T, t.Unix())
	}
	for d := range counts {
		out.Devices = append(out.Devices, d)
	}
	sort.Strings(out.Devices)
	for _, d := range out.Devices {
		row := make([]*float64, len(out.T))
		for i, t := range out.T {
			if b := counts[d][t]; b != nil {
				rate := float64(b.defects) / float64(b.n)
				row[i] = &rate
			}
		}
		out.Rates = append(out.Rates, row)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}
