"""The Textual application: the App, its screens, the view models that feed them, the client side
of requests, user preferences and presence.
"""
