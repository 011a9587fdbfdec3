# sequence seq_003 sensor lidar
frame 0 t=0.0
frame 1 t=0.1
frame 2 t=0.2
frame 3 t=0.3
frame 4 t=0.4
frame 5 t=0.5
