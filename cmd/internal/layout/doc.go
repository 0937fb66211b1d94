// Package layout holds only the layering test: it asks the go command for the
// module's import graph and fails when an arrow points the wrong way
// (DESIGN.md §2, STYLE.md "Layout"). There is no code to import here.
package layout
