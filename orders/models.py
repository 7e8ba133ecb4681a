"""Models arrive with their issue; the app is registered so its place in the layout is fixed."""
