// Package contracttest runs every provider client operation against the
// emulator (internal/sandbox) over loopback and checks both sides: what the
// emulator recorded and what the client decoded, including token reuse,
// refresh after a 401, the phone-number outcomes seen through status
// queries, and the notifications verified with the clients' own parsers.
//
// It holds tests only; nothing outside tests may import it.
package contracttest
