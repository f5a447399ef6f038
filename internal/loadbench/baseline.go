package loadbench

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the baselines' database
)

// The baselines are what a careful engineer would write in an afternoon to
// do the same job with the same durability and nothing else: they bound
// what finconnectd's extra work (verification, payment lookup, events,
// leases, attempt history) may cost. Each runs as its own process, like the
// daemon, so that the load generator measures all of them the same way.

// openBaselineDB opens a SQLite database with the daemon's durability
// settings (WAL, synchronous=FULL) and one connection.
func openBaselineDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000"} {
		if _, err := db.Exec(q); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return db, nil
}

// runReceiver is `finconnectd-bench baseline-receiver`: an HTTP server that
// stores each request body in SQLite and answers 200 after the commit.
// With -group, one writer goroutine commits whatever requests are waiting
// in one transaction (group commit), and each request is answered after
// the transaction holding it committed.
func runReceiver(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("baseline-receiver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	path := fs.String("db", "", "SQLite database path")
	group := fs.Bool("group", false, "group commit: one transaction for every waiting request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openBaselineDB(*path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, body BLOB NOT NULL, received_at INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("create inbox: %w", err)
	}
	var store func(ctx context.Context, body []byte) error
	if *group {
		g := newGroupWriter(func(bodies [][]byte) error { return insertBodies(db, bodies) })
		go g.run(ctx)
		store = g.submit
	} else {
		store = func(ctx context.Context, body []byte) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.Exec("INSERT INTO inbox (body, received_at) VALUES (?, ?)", body, time.Now().UnixNano()); err != nil {
				_ = tx.Rollback()
				return err
			}
			return tx.Commit()
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := store(r.Context(), body); err != nil {
			http.Error(w, "store", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return serveUntil(ctx, *listen, h, stdout)
}

// serveUntil serves h on listen, prints "listening ADDR" once it does, and
// stops when ctx ends.
func serveUntil(ctx context.Context, listen string, h http.Handler, stdout io.Writer) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// groupWriter commits the items waiting for it together (group commit):
// one goroutine (run) takes every item queued, up to 512, hands them to
// commit in one call, and answers each with commit's error.
type groupWriter[T any] struct {
	reqs    chan groupReq[T]
	commit  func(batch []T) error
	stopped chan struct{} // closed when run returns
}

type groupReq[T any] struct {
	item T
	done chan error
}

func newGroupWriter[T any](commit func(batch []T) error) *groupWriter[T] {
	return &groupWriter[T]{reqs: make(chan groupReq[T], 4096), commit: commit, stopped: make(chan struct{})}
}

// submit queues item and returns commit's error for its batch, or sooner
// when ctx ends or the writer has stopped.
func (g *groupWriter[T]) submit(ctx context.Context, item T) error {
	r := groupReq[T]{item: item, done: make(chan error, 1)}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stopped:
		return errWriterStopped
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stopped:
		return errWriterStopped
	}
}

var errWriterStopped = errors.New("group writer stopped")

// run commits batches until ctx ends.
func (g *groupWriter[T]) run(ctx context.Context) {
	defer close(g.stopped)
	const maxBatch = 512
	batch := make([]groupReq[T], 0, maxBatch)
	items := make([]T, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-g.reqs:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		items = items[:0]
		for _, r := range batch {
			items = append(items, r.item)
		}
		err := g.commit(items)
		for _, r := range batch {
			r.done <- err
		}
	}
}

// insertBodies stores bodies in the receiver's inbox in one transaction.
func insertBodies(db *sql.DB, bodies [][]byte) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	stmt, err := tx.Prepare("INSERT INTO inbox (body, received_at) VALUES (?, ?)")
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	now := time.Now().UnixNano()
	for _, b := range bodies {
		if _, err := stmt.Exec(b, now); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// runForwarder is `finconnectd-bench baseline-forwarder`: a minimal SQLite
// outbox forwarder. It fills an outbox with -n bodies, prints "ready",
// waits for a line on stdin, then POSTs every row to -url with
// -concurrency workers, marking each delivered in its own transaction
// after a 2xx, and exits when the outbox is empty.
func runForwarder(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("baseline-forwarder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("db", "", "SQLite database path")
	target := fs.String("url", "", "where to POST each row")
	n := fs.Int("n", 5000, "rows to queue")
	conc := fs.Int("concurrency", 4, "parallel POSTs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openBaselineDB(*path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE outbox (id INTEGER PRIMARY KEY, body BLOB NOT NULL, delivered INTEGER NOT NULL DEFAULT 0)"); err != nil {
		return fmt.Errorf("create outbox: %w", err)
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	for i := range *n {
		body := fmt.Sprintf(`{"type":"payment.succeeded","data":{"reference":"FWD-%d","amount":"1000","currency":"TZS"}}`, i)
		if _, err := tx.Exec("INSERT INTO outbox (body) VALUES (?)", body); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ready")
	if _, err := bufio.NewReader(stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("wait for go: %w", err)
	}
	cpu0 := selfCPU()
	defer func() { fmt.Fprintf(stdout, "cpu %s\n", selfCPU()-cpu0) }()
	client := newClient(10 * time.Second)
	type row struct {
		id   int64
		body []byte
	}
	for {
		rows, err := db.QueryContext(ctx, "SELECT id, body FROM outbox WHERE delivered = 0 ORDER BY id LIMIT 256")
		if err != nil {
			return err
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.body); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		rows.Close()
		if len(batch) == 0 {
			return nil
		}
		var (
			wg   sync.WaitGroup
			next = make(chan row)
		)
		for range *conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range next {
					resp, err := client.Post(*target, "application/json", bytes.NewReader(r.body))
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 != 2 {
						continue
					}
					if _, err := db.Exec("UPDATE outbox SET delivered = 1 WHERE id = ?", r.id); err != nil {
						fmt.Fprintln(stderr, "mark delivered:", err)
					}
				}
			}()
		}
		for _, r := range batch {
			next <- r
		}
		close(next)
		wg.Wait()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// selfCPU is the CPU time (user and system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
