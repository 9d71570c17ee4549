package deviceapi

// Status is what an agent publishes on its StatusTopic: its committed
// generation, its progress on a deployment, its components and how the
// device is doing. The server stores it as sent and shows it.
type Status struct {
	Schema     int         `json:"schema,omitempty"`
	Generation int64       `json:"generation"`
	Deployment string      `json:"deployment,omitempty"`
	State      DeviceState `json:"state,omitempty"` // the device's state for Deployment (RUNNING, FAILED, ...)
	Message    string      `json:"message,omitempty"`
	// Components maps a component's name to the agent's state for it
	// (STARTING, RUNNING, FINISHED, BROKEN).
	Components map[string]string `json:"components,omitempty"`
	// Health is what each running component says about itself.
	Health    map[string]ComponentHealth `json:"health,omitempty"`
	Telemetry *Telemetry                 `json:"telemetry,omitempty"`
}

// DeviceState is a device's progress on one deployment, as it reports it
// (Status.State). A named type so it cannot be passed where a deployment's
// or an execution's state is meant, though all spell "FAILED".
type DeviceState string

// Device states.
const (
	DevicePending     DeviceState = "PENDING"
	DeviceDownloading DeviceState = "DOWNLOADING"
	DeviceInstalling  DeviceState = "INSTALLING"
	DeviceRunning     DeviceState = "RUNNING"
	DeviceFailed      DeviceState = "FAILED"
	DeviceRolledBack  DeviceState = "ROLLED_BACK"
	DeviceCanceled    DeviceState = "CANCELED"
	DeviceSuperseded  DeviceState = "SUPERSEDED"
)

// Component states a component reports about itself (ComponentHealth.State).
const (
	ComponentRunning  = "running"
	ComponentDegraded = "degraded" // a camera or a line output is down; inspection goes on
)

// ComponentHealth is a component's own report on the local IPC endpoint
// (status/<component>), passed on in the device's Status.
type ComponentHealth struct {
	Ready         bool    `json:"ready"`
	State         string  `json:"state,omitempty"`
	Reason        string  `json:"reason,omitempty"` // why it is degraded
	Images        int64   `json:"images,omitempty"`
	Errors        int64   `json:"errors,omitempty"`
	FramesDropped int64   `json:"frames_dropped,omitempty"`
	Rejects       int64   `json:"rejects,omitempty"`
	FPS           float64 `json:"fps,omitempty"` // results per second lately
	// SendBack counts the images kept and skipped per reason.
	SendBack *SendBackCounts `json:"send_back,omitempty"`
}

// Telemetry is the device's health at a glance.
type Telemetry struct {
	LinkUp            bool    `json:"link_up"`
	DownloadedBytes   int64   `json:"downloaded_bytes"`
	CacheHits         int     `json:"cache_hits"`
	ArtifactsFetched  int     `json:"artifacts_fetched"`
	DiskFreeBytes     int64   `json:"disk_free_bytes,omitempty"`
	Load1             float64 `json:"load1,omitempty"`
	MemAvailableBytes int64   `json:"mem_available_bytes,omitempty"`
	AgentRSSBytes     int64   `json:"agent_rss_bytes,omitempty"`
	// Messages from components the agent forwarded with fields it does
	// not know (dropped) or with a newer schema than it understands.
	UnknownFields int64 `json:"unknown_fields,omitempty"`
	NewerSchema   int64 `json:"newer_schema,omitempty"`
	Outbox
}

// Outbox is the store-and-forward queue's state and what it has cost.
// Its fields are part of Telemetry's JSON object.
type Outbox struct {
	QueueDepth   int   `json:"queue_depth"`   // messages waiting
	QueueBytes   int64 `json:"queue_bytes"`   // their size
	QueueDropped int64 `json:"queue_dropped"` // messages dropped whole (cap, age, lost)
	// ImagesDropped counts results kept without their image to stay under
	// the disk cap.
	ImagesDropped int64 `json:"images_dropped,omitempty"`
	// MemoryBytes is what waits in memory because the disk refused it.
	MemoryBytes int64 `json:"queue_memory_bytes,omitempty"`
	WriteErrors int64 `json:"queue_write_errors,omitempty"`
	Fsyncs      int64 `json:"queue_fsyncs,omitempty"`
	// BytesWritten is everything written to the queue's files; divided by
	// Results, the cost of one result on the device's storage.
	BytesWritten int64 `json:"queue_bytes_written,omitempty"`
	Results      int64 `json:"queue_results,omitempty"` // messages queued since start
}
