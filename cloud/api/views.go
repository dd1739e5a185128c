package api

// views maps each of xs to its view; never nil, so an empty list answers
// [] rather than null.
func views[T, V any](xs []T, view func(*T) V) []V {
	out := make([]V, 0, len(xs))
	for i := range xs {
		out = append(out, view(&xs[i]))
	}
	return out
}
