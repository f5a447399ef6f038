// Package docs holds finconnectd's documentation (Markdown beside this file).
// It has no code: its tests check that the documentation stays true to the
// repository — links resolve, every command and flag it shows exists.
package docs
