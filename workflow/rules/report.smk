# The run's summary page (results/report/index.html): see src/breedomics/report/.
