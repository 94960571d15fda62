"""A simulated kiosk camera: rendered phone-with-QR frames served as an MJPEG stream.

``render`` draws frames (clean or degraded) from a token and builds the labelled
``degraded_frame_set`` for the decoder benchmark; ``server.SimulatedCamera`` serves frames
to the kiosk's real ``cv2.VideoCapture``. (Import the submodules: this package stays light
so that building the command line does not load OpenCV.)
"""
