package deviceapi

// The bounds every device message is held to: by the agent before it
// queues a message and by the server at its door. They bound what one
// message can make either side store.
const (
	MaxResultBytes  = 4 << 20  // a result with an attached camera image
	MaxVerdictBytes = 64 << 10 // a verdict
	MaxStatusBytes  = 64 << 10 // a status report with its telemetry
	MaxDepth        = 32       // nesting of JSON arrays and objects
	MaxMsgID        = 128      // bytes of printable ASCII
	MaxDetections   = 1000     // boxes in one result
	MaxReason       = 512      // bytes of a component's degraded reason
)
