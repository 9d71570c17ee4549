package deviceapi

import "fmt"

// SendBackCount is what happened to the frames of one reason.
type SendBackCount struct {
	Kept    int64 `json:"kept"`
	OverCap int64 `json:"over_cap"` // qualified, but the hour's budget was spent
}

// SendBackCounts are a component's send-back totals since it started,
// reported in its status (ComponentHealth.SendBack).
type SendBackCounts struct {
	Defect    SendBackCount `json:"defect"`
	Uncertain SendBackCount `json:"uncertain"`
	Sample    SendBackCount `json:"sample"`
	// NotSampled are frames that were neither defect nor uncertain and
	// were not drawn for the sample.
	NotSampled int64 `json:"not_sampled"`
}

// String is the counts for people: "defect 12 kept (3 over cap), …".
func (c SendBackCounts) String() string {
	part := func(name string, n SendBackCount) string {
		if n.OverCap == 0 {
			return fmt.Sprintf("%s %d kept", name, n.Kept)
		}
		return fmt.Sprintf("%s %d kept (%d over cap)", name, n.Kept, n.OverCap)
	}
	return fmt.Sprintf("%s, %s, %s, %d not sampled", part("defect", c.Defect), part("uncertain", c.Uncertain), part("sample", c.Sample), c.NotSampled)
}
