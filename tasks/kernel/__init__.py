"""The small shared kernel: rules several concepts share (limits, dates, periods, quarters,
the text rule), reading CSV and Excel files, the words shown for codes."""
