package connect

import (
	"context"
	"errors"
	"net"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrWorkerStopped is returned by calls made after the worker stopped.
var ErrWorkerStopped = errors.New("worker stopped")

// retriableError marks an error as worth retrying after a backoff.
type retriableError struct{ err error }

func (e *retriableError) Error() string { return e.err.Error() }
func (e *retriableError) Unwrap() error { return e.err }

// Retriable marks err as retriable: the worker retries the call that returned
// it after a backoff instead of failing the connector or task. nil stays nil.
func Retriable(err error) error {
	if err == nil {
		return nil
	}
	return &retriableError{err}
}

// IsRetriable reports whether err is worth retrying: errors marked with
// Retriable, Kafka's retriable error codes, broker connection errors, and
// timeouts. Every other error is fatal. This is the one place that decides.
func IsRetriable(err error) bool {
	if err == nil {
		return false
	}
	var re *retriableError
	if errors.As(err, &re) {
		return true
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if kerr.IsRetriable(err) || kgo.IsRetryableBrokerErr(err) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if errors.Is(err, kgo.ErrClientClosed) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.NotController)
}
