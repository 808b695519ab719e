"""Online experiments on the home feed: who is in which variant
(assignment), starting, stopping and shipping them (lifecycle), the
statistics (stats), and the readout a data scientist reads (readout).
Web-process code: database and cache work and scipy, no TensorFlow."""
