// Package optim will hold the paper's optimizer, heavy-ball momentum SGD
// with label noise (eq. 1), the momentum scaling rule beta = 1 - C*eta^gamma
// (eq. 2), Adam, and learning-rate schedules.
package optim
