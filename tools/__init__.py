"""Developer tools, not shipped: the generated reference pages and the fixed showcase state the
docs and snapshot tests render.
"""
