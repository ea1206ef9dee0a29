package agent

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
)

// maxMessageBytes bounds message bodies (one instance spec).
const maxMessageBytes = 4 << 20

// api serves the agent's HTTP endpoints: messages from the leader, the
// instance list, the instances' log files (logfiles.go) and a health check.
type api struct {
	executorID string
	secret     string
	mgr        *instanceManager
	logger     hclog.Logger
}

func (a *api) handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("POST /apis/v1/messages", a.authed(a.message))
	m.HandleFunc("GET /apis/v1/instances", a.authed(a.instances))
	m.HandleFunc("GET /apis/v1/logs/filestream/{appId}/{instanceId}/list", a.authed(a.logList))
	m.HandleFunc("GET /apis/v1/logs/filestream/{appId}/{instanceId}/read/{fileName}", a.authed(a.logRead))
	m.HandleFunc("GET /apis/v1/logs/filestream/{appId}/{instanceId}/download/{fileName}", a.authed(a.logDownload))
	m.HandleFunc("GET /healthz", a.healthz)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"status": "FAILED", "message": "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return m
}

// authed admits only callers presenting the cluster secret.
func (a *api) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(headerClusterAuth)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(a.secret)) != 1 {
			a.logger.Warn("unauthenticated request refused", "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr, "node", r.Header.Get(headerNodeID))
			writeJSON(w, http.StatusUnauthorized, map[string]string{"status": "FAILED",
				"message": "Credentials are required to access this resource."})
			return
		}
		h(w, r)
	}
}

// message handles a START_INSTANCE or STOP_INSTANCE command. The answer is
// a raw MessageResponse, as in Drove.
func (a *api) message(w http.ResponseWriter, r *http.Request) {
	var msg model.ExecutorMessage
	body, err := io.ReadAll(io.LimitReader(r.Body, maxMessageBytes+1))
	if err == nil && len(body) > maxMessageBytes {
		err = fmt.Errorf("message exceeds %d bytes", maxMessageBytes)
	}
	if err == nil {
		err = json.Unmarshal(body, &msg)
	}
	if err != nil {
		a.reply(w, http.StatusBadRequest, msg, model.MessageFailed, "invalid message: "+err.Error())
		return
	}
	if id := msg.Address.ExecutorID; id != "" && id != a.executorID {
		a.reply(w, http.StatusOK, msg, model.MessageRejected,
			fmt.Sprintf("message is for executor %s, this is %s", id, a.executorID))
		return
	}
	switch msg.Type {
	case model.MsgStartInstance:
		a.startInstance(w, msg)
	case model.MsgStopInstance:
		if msg.InstanceID == "" {
			a.reply(w, http.StatusOK, msg, model.MessageRejected, "STOP_INSTANCE needs instanceId")
			return
		}
		if msg.GracePeriodMs > 0 {
			a.mgr.limitStopGrace(msg.InstanceID, time.Duration(msg.GracePeriodMs)*time.Millisecond)
		}
		if a.mgr.stop(msg.InstanceID) {
			a.reply(w, http.StatusOK, msg, model.MessageAccepted, "")
		} else {
			a.reply(w, http.StatusOK, msg, model.MessageAccepted, "instance not found on executor; nothing to stop")
		}
	default:
		a.reply(w, http.StatusOK, msg, model.MessageRejected, fmt.Sprintf("unknown message type %q", msg.Type))
	}
}

func (a *api) startInstance(w http.ResponseWriter, msg model.ExecutorMessage) {
	if msg.Spec == nil {
		a.reply(w, http.StatusOK, msg, model.MessageRejected, "START_INSTANCE needs spec")
		return
	}
	created, err := a.mgr.start(*msg.Spec)
	switch {
	case errors.Is(err, errClosed):
		a.reply(w, http.StatusServiceUnavailable, msg, model.MessageFailed, err.Error())
	case err != nil:
		a.reply(w, http.StatusOK, msg, model.MessageRejected, err.Error())
	case !created:
		a.reply(w, http.StatusOK, msg, model.MessageAccepted, "instance already known")
	default:
		a.logger.Debug("instance accepted", "instance", msg.Spec.InstanceID, "app", msg.Spec.AppID)
		a.reply(w, http.StatusOK, msg, model.MessageAccepted, "")
	}
}

func (a *api) reply(w http.ResponseWriter, code int, req model.ExecutorMessage, st model.MessageStatus, text string) {
	writeJSON(w, code, model.MessageResponse{
		Header: model.MessageHeader{ID: uuid.NewString(), SenderType: "EXECUTOR", Direction: "REPLY",
			ReplyToID: req.Header.ID, MessageTime: time.Now().UnixMilli()},
		Status: st, Message: text,
	})
}

// instances lists the agent's instances in a Drove envelope.
func (a *api) instances(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "SUCCESS", "data": a.mgr.infos(), "message": "success"})
}

func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"executorId": a.executorID, "instances": a.mgr.active()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
