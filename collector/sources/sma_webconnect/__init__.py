"""SMA inverters through WebConnect, their web interface's JSON API (sma.md §7).

In progress (issue 12): the codec is here; the kind is not registered yet.
"""
