package fsm

import (
	"sort"

	"github.com/drove-go/drove/fsm/model"
)

// Applications returns every application, sorted by id.
func (f *FSM) Applications() []model.ApplicationInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]model.ApplicationInfo, 0, len(f.st.apps))
	for _, a := range f.st.apps {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AppID < out[j].AppID })
	return out
}

// Application returns one application.
func (f *FSM) Application(id string) (model.ApplicationInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, ok := f.st.apps[id]
	if !ok {
		return model.ApplicationInfo{}, false
	}
	return *a, true
}
