package kread

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnTopic starts a cluster with topic "t" (one partition) holding, in this
// order: "plain" (no transaction), "committed" (a committed transaction),
// "aborted" (an aborted one), and then "open" in a transaction left open,
// whose producer is returned so that the test can end it.
func txnTopic(t *testing.T) (opts []kgo.Opt, open *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts = []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	ctx := context.Background()
	adm, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := adm.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("plain")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	txn := func(id string) *kgo.Client {
		cl, err := kgo.NewClient(append(opts, kgo.TransactionalID(id))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	for _, v := range []string{"committed", "aborted"} {
		cl := txn(v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, v == "committed"); err != nil {
			t.Fatal(err)
		}
	}
	open = txn("open")
	if err := open.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return opts, open
}

func values(t *testing.T, read func(fn func(*kgo.Record) error) error) []string {
	t.Helper()
	var out []string
	if err := read(func(r *kgo.Record) error {
		out = append(out, string(r.Value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRead_SkipsAbortedAndOpenTransactions reads a topic with records of a
// committed, an aborted and an open transaction: ReadToEnd returns what is
// committed at once, without waiting for the open transaction; Read
// UntilWritten waits for it and returns its record once it commits.
func TestRead_SkipsAbortedAndOpenTransactions(t *testing.T) {
	opts, open := txnTopic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := values(t, func(fn func(*kgo.Record) error) error { return ReadToEnd(ctx, opts, "t", nil, fn) })
	if want := []string{"plain", "committed"}; !slices.Equal(got, want) {
		t.Fatalf("ReadToEnd = %q, want %q (nothing aborted, nothing open)", got, want)
	}

	done := make(chan []string)
	go func() {
		var out []string
		err := Read(ctx, opts, "t", nil, UntilWritten, func(r *kgo.Record) error {
			out = append(out, string(r.Value))
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	select {
	case got := <-done:
		t.Fatalf("Read UntilWritten returned %q while a transaction below the high watermark was open; want it to wait", got)
	case <-time.After(300 * time.Millisecond): // it waits; the commit below ends the wait
	}
	if err := open.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got, want := <-done, []string{"plain", "committed", "open"}; !slices.Equal(got, want) {
		t.Fatalf("Read UntilWritten = %q, want %q", got, want)
	}
}

// TestTail_ReadsCommittedOnly catches up on a topic with an open
// transaction: the open record is not read; once it is aborted, the next
// catch-up reads what came after it, and never the aborted record.
func TestTail_ReadsCommittedOnly(t *testing.T) {
	opts, open := txnTopic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tail, err := NewTail(opts, "t")
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	catchUp := func() []string {
		var out []string
		if err := tail.CatchUp(ctx, func(r *kgo.Record) { out = append(out, string(r.Value)) }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := catchUp(), []string{"plain", "committed"}; !slices.Equal(got, want) {
		t.Fatalf("first CatchUp = %q, want %q", got, want)
	}
	if err := open.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got, want := catchUp(), []string{"after"}; !slices.Equal(got, want) {
		t.Fatalf("second CatchUp = %q, want %q (the open record was aborted)", got, want)
	}
}
