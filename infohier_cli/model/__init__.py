"""The network: ResNet-18 encoder and projection (`encoder`), the Poincaré-ball head and
ball maths (`hyperbolic`), and the two joined (`network.InfoHierModel`)."""
