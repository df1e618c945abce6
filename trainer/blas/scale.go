package blas

// scale sets C = beta·C for an m×n matrix (C = 0 when beta is 0).
func scale(beta float32, m, n int, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
