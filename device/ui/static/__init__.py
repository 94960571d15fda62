"""Static files of the kiosk page (a package so that wheels include them)."""
