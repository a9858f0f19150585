package scan

import (
	"context"

	"github.com/shiming-id/shiming/gateway/flow"
)

// FlowUpdate returns the Update of the part of a flow's state that part
// picks: the flow of kind with id, checked against the browser binding
// (empty only for callbacks from another device).
func FlowUpdate[S, T any](e *flow.Engine, kind, id, binding string, part func(*S) *T) Update[T] {
	return func(ctx context.Context, change func(*T) error) (T, error) {
		f, err := flow.Update(ctx, e, kind, id, binding, func(s *S) error { return change(part(s)) })
		if f == nil {
			var zero T
			return zero, err
		}
		return *part(&f.State), err
	}
}
