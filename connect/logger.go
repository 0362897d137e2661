package connect

import (
	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KgoLogger adapts an hclog.Logger to franz-go's kgo.Logger. kgo's Info is
// client internals (metadata, connections), so it maps to hclog Debug, and
// kgo's Debug maps to Trace; Warn and Error stay as they are.
func KgoLogger(l hclog.Logger) kgo.Logger { return kgoLogger{l} }

type kgoLogger struct{ l hclog.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	switch {
	case k.l.IsTrace():
		return kgo.LogLevelDebug
	case k.l.IsDebug():
		return kgo.LogLevelInfo
	case k.l.IsWarn(), k.l.IsInfo():
		return kgo.LogLevelWarn
	case k.l.IsError():
		return kgo.LogLevelError
	default:
		return kgo.LogLevelNone
	}
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		k.l.Error(msg, keyvals...)
	case kgo.LogLevelWarn:
		k.l.Warn(msg, keyvals...)
	case kgo.LogLevelInfo:
		k.l.Debug(msg, keyvals...)
	case kgo.LogLevelDebug:
		k.l.Trace(msg, keyvals...)
	}
}
