package fsm

import (
	"fmt"

	"github.com/drove-go/drove/fsm/model"
)

// applyTaskCreate records a task's instance, PENDING. {sourceAppName,
// taskId} must not exist yet, running or finished (Drove keeps finished
// task records until they are cleaned up).
func (f *FSM) applyTaskCreate(buf []byte) any {
	var req TaskCreateRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	spec := req.Place.Spec
	if spec.Kind != model.KindTask || spec.AppID == "" || spec.TaskID == "" {
		return errInvalid("a task needs kind TASK, a sourceAppName and a taskId")
	}
	if r := f.taskLocked(spec.AppID, spec.TaskID); r != nil {
		return fmt.Errorf("%w: Task already exists for %s/%s with taskID: %s-%s",
			ErrConflict, spec.AppID, spec.TaskID, spec.AppID, spec.TaskID)
	}
	if err := f.checkPlacementsLocked([]PlaceInstance{req.Place}); err != nil {
		return err
	}
	f.placeLocked([]PlaceInstance{req.Place}, req.Timestamp)
	if req.Deadline != 0 {
		r := *f.st.instances[spec.InstanceID]
		r.TaskDeadline = req.Deadline
		f.st.instances[spec.InstanceID] = &r
	}
	f.notifyLocked()
	return nil
}

// taskLocked finds a task's record by sourceAppName and taskId.
func (f *FSM) taskLocked(sourceApp, taskID string) *model.InstanceRecord {
	for _, r := range f.st.instances {
		if r.BelongsTo(model.KindTask, sourceApp) && r.Spec.TaskID == taskID {
			return r
		}
	}
	return nil
}

// applyTaskKill asks a running task to stop; TimedOut records that its
// timeout did, so its result becomes TIMED_OUT.
func (f *FSM) applyTaskKill(buf []byte) any {
	var req TaskKillRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.st.instances[req.InstanceID]
	if r == nil || r.Kind() != model.KindTask || r.Info.State.IsTerminal() || r.StopRequested {
		return fmt.Errorf("%w: Either task does not exist or has already finished", ErrNotFound)
	}
	n := *r
	n.StopRequested, n.TaskTimedOut = true, req.TimedOut
	f.st.instances[n.Info.InstanceID] = &n
	f.notifyLocked()
	return nil
}

// taskResultOf is the result to store for a task report: the executor's,
// TIMED_OUT instead of CANCELLED when the controller killed it for its
// timeout, LOST for a lost task that has none.
func taskResultOf(r *model.InstanceRecord, reported *model.TaskResult, st model.InstanceState) *model.TaskResult {
	res := r.TaskResult
	if reported != nil {
		c := *reported
		res = &c
	}
	if res != nil && r.TaskTimedOut && res.Status == model.TaskCancelled {
		res = &model.TaskResult{Status: model.TaskTimedOut, ExitCode: res.ExitCode}
	}
	switch {
	case res != nil:
	case st == model.InstanceLost:
		res = &model.TaskResult{Status: model.TaskLost, ExitCode: -1}
	case st.IsTerminal() && r.StopRequested && r.TaskTimedOut:
		res = &model.TaskResult{Status: model.TaskTimedOut, ExitCode: -1}
	case st.IsTerminal() && r.StopRequested:
		// Killed before its executor had it: the executor reports a plain
		// STOPPED, knowing nothing of the task.
		res = &model.TaskResult{Status: model.TaskCancelled, ExitCode: -1}
	}
	return res
}
