package vaultbench

import (
	"io"

	"github.com/spf13/cobra"
)

func suiteCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{Use: "suite", Short: "Run the whole benchmark (make bench)", Hidden: true}
}
