package model

// ClusterSummary is the body of GET /cluster (Drove's ClusterSummary).
// Memory figures are in MB, as Drove's code emits them.
type ClusterSummary struct {
	Leader                 string       `json:"leader"`
	State                  ClusterState `json:"state"`
	NumExecutors           int          `json:"numExecutors"`
	NumApplications        int          `json:"numApplications"`
	NumActiveApplications  int          `json:"numActiveApplications"`
	NumActiveTasks         int          `json:"numActiveTasks"`
	NumLocalServices       int          `json:"numLocalServices"`
	NumActiveLocalServices int          `json:"numActiveLocalServices"`
	FreeCores              int          `json:"freeCores"`
	UsedCores              int          `json:"usedCores"`
	TotalCores             int          `json:"totalCores"`
	FreeMemory             int64        `json:"freeMemory"`
	UsedMemory             int64        `json:"usedMemory"`
	TotalMemory            int64        `json:"totalMemory"`
}

// LeaderElectionUnderway is ClusterSummary.Leader while no leader is known.
const LeaderElectionUnderway = "Leader election underway"
