"""SENEC home battery, read locally through the device's lala.cgi."""
