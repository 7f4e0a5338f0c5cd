"""Two fixes for the published pages, both found by tests/test_site.py in a real browser.

1. sphinx-thebe registers its inline configuration script late (at `env-before-read-docs`,
   after the HTML builder has taken its list of scripts), and with Sphinx 7 the page ends up
   with two copies of it: one with filename None, one with ''.  The second
   `const THEBE_JS_URL = ...` is a SyntaxError in the browser.  Until that is fixed upstream,
   keep each script once (the only duplicates are these, but the rule is general).
2. The theme's light/dark switch starts from the page context's `default_mode`, which Jupyter
   Book leaves empty, and the browser console reports "invalid theme mode".  Start from "auto"
   (follow the reader's system setting).
"""


def keep_each_script_once(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # an inline script has filename None or '': the same script either way
        key = (getattr(script, "filename", None) or "",
               repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def follow_the_system_theme(app, config):
    config.html_context.setdefault("default_mode", "auto")


def setup(app):
    app.connect("config-inited", follow_the_system_theme)
    app.connect("html-page-context", keep_each_script_once)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
