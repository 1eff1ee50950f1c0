"""The cockpit's screens: the main four-pane screen and its modals."""
