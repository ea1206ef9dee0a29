package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// executorURL is the base URL of an executor's API.
func executorURL(exec model.ExecutorInfo) string {
	scheme := "http"
	if exec.TransportType == model.TransportHTTPS {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(exec.Hostname, strconv.Itoa(exec.Port))
}

// executorQueryClient makes short calls to executors' APIs.
var executorQueryClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
	DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext, MaxIdleConnsPerHost: 2}}

// executorActiveInstances asks the executor itself how many instances it
// runs (not ended), the ones the controllers no longer track included: a
// container marked LOST while its executor was unreachable runs on until
// the agent stops it as unknown.
func (c *Controller) executorActiveInstances(ctx context.Context, exec model.ExecutorInfo) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, executorURL(exec)+"/apis/v1/instances", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(headerClusterAuth, c.cfg.ClusterSecret)
	req.Header.Set(headerNodeID, c.cfg.NodeID)
	resp, err := executorQueryClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("executor %s answered HTTP %d", exec.ExecutorID, resp.StatusCode)
	}
	var env struct {
		Data []model.InstanceInfo `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return 0, fmt.Errorf("executor %s: decoding instances: %w", exec.ExecutorID, err)
	}
	n := 0
	for _, in := range env.Data {
		if !in.State.IsTerminal() {
			n++
		}
	}
	return n, nil
}
