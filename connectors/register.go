package connectors

import "github.com/mm2go/mm2go/connect"

// Register adds mm2go's connectors to reg.
func Register(reg *connect.Registry) {
	reg.Register(ClassMirrorSource, NewMirrorSource)
	reg.Register(ClassMirrorHeartbeat, NewMirrorHeartbeat)
	reg.Register(ClassMirrorCheckpoint, NewMirrorCheckpoint)
}
