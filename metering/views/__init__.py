"""Metering's web screens: the CSR review queues (csr.py)."""
