package model

// allowedOps is the operations an application accepts in each state,
// exactly as Drove's code has it (§4.1 / §11 of the reference, where the
// code and the docs disagree the code wins). CREATE needs no app at all.
var allowedOps = map[ApplicationState][]OperationType{
	AppMonitoring:       {OpStartInstances, OpScale, OpDestroy, OpRecover},
	AppRunning:          {OpStartInstances, OpScale, OpSuspend, OpStopInstances, OpReplaceInstances, OpRecover},
	AppScalingRequested: {OpScale},
}

// AllowedOperations returns the operations accepted in state st (nil: none).
func AllowedOperations(st ApplicationState) []OperationType {
	return allowedOps[st]
}

// OperationAllowed reports whether op is accepted in state st.
func OperationAllowed(st ApplicationState, op OperationType) bool {
	for _, o := range allowedOps[st] {
		if o == op {
			return true
		}
	}
	return false
}
